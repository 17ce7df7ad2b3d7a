"""turnout executors internal."""
