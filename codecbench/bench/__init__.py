"""Benchmarks: scripts that print measured figures as ratios against references measured in the same run."""
