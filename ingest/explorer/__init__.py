"""Admin pages that show what Spool does: the events explorer (latest events, a session, a profile,
live mode) and the ingestion health page. Wired under /admin/spool/ (config/urls.py), staff only."""
