"""Helpers shared by the tests: a GeoIP database of our own, ClickHouse reads, a burst worker."""
