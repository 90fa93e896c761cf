"""spool-client: an offline-first analytics client for Spool.

Events wait in a durable SQLite buffer on the device and are drained in bulk to `POST /track/batch`,
exactly once: see README.md, and docs/offline-clients.md of the Spool repository for the protocol.
"""
from spool_client.agent import VERSION as __version__
from spool_client.client import FlushResult, SpoolClient, Status

__all__ = ["FlushResult", "SpoolClient", "Status", "__version__"]
