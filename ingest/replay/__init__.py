"""`manage.py replay_events`: buffered event files read (files.py) and sent through the batch pipeline (run.py)."""
