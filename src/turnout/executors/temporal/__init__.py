"""turnout executors temporal."""
