"""Judging results: statistics, significance, and run-against-run comparison."""
