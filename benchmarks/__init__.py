"""Benchmarks of aioresque beside its peers (run ``python benchmarks/run.py``)."""
