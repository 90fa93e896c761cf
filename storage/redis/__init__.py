"""Redis: the shared client and its mechanisms (client.py: scripts, locks, leases), every key's name
(keys.py), the counters kept there (counters.py) and the worker's reserve of memory (reserve.py)."""
