"""The SQL Spool reads ClickHouse with, one file per feature, each query behind a function that takes
and returns plain values. Every query is parameterised; nothing from a request is spliced in."""
