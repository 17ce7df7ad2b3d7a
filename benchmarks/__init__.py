"""Benchmarks (see the performance issue)."""
