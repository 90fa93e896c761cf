"""The storage layer, below every app: Redis (keys, scripts, locks), ClickHouse (tables, SQL, inserts),
the queues and buffers, and the messages that wait in them. It imports no app of Spool's."""
