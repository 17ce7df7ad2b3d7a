"""turnout testing."""
