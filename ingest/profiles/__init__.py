"""Profiles and groups (contract §7): which profiles exist (known.py), how a change merges into a
document (merge.py, pure), and the worker's application of buffered changes (apply.py)."""
