"""turnout executors internal store."""
