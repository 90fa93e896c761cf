"""What Spool shows of itself: probes (/livez, /readyz), Prometheus metrics (/metrics), structured
logs with request, project and job ids, and error reports to Sentry."""
