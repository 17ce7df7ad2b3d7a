"""turnout workflows."""
