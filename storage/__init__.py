"""The storage layer, below every app, sorted by kind: redis/ (the client, key names, counters, the
worker's reserve), clickhouse/ (the client, schema/, queries/ one file per feature) and queue/ (the RQ
queues, buffers, items set aside, the backlog, held jobs, blocks, retries). It imports contract/ and
third parties only: no app of Spool's, no first-party dotted path."""
