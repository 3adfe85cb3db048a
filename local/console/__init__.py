"""The console: a read-only web UI on the event layer (127.0.0.1:8088) and ``peek``; see README.md."""
