"""Pure data definitions at the bottom of Spool: what waits in Redis (messages), the ClickHouse tables
(tables), and the mapping of a queued event to its row (rows). Imports nothing that does I/O."""
