"""Helpers for tests only (never shipped): settings discovery, scratch topics, gateway test doubles."""
