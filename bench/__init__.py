"""The Todo API benchmark: one command that measures the service against its baselines."""
