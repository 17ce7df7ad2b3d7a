"""turnout executors."""
