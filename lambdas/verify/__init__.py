"""make verify: reconcile every output of the pipeline against the simulators' ground truth (README.md)."""
