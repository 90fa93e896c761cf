"""Benchmarks (`make bench`): each starts what it needs, measures, and prints one JSON object."""
