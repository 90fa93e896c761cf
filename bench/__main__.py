"""`python -m bench [B1 B2 ...]`: run the benchmarks (all by default), one JSON line each.

The run starts a ClickHouse server of its own (the shared one's latency follows whatever else the
machine's users insert and merge), and each benchmark a Redis, gunicorn and workers of its own.
"""
import importlib
import os
import sys

import orjson

BENCHMARKS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9")


def _configure_django(clickhouse_url: str) -> None:
    """The benchmark process reads ClickHouse through storage.clickhouse.client, like the servers it starts."""
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-" + "0123456789abcdef" * 3)  # 50+ characters
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ["CLICKHOUSE_URL"] = clickhouse_url
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def main(names: list[str]) -> int:
    wanted = [name.upper() for name in names] or list(BENCHMARKS)
    unknown = [name for name in wanted if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    from tests.support.servers import PrivateClickHouse

    clickhouse = PrivateClickHouse().start()
    os.environ["BENCH_CLICKHOUSE_PIDFILE"] = str(clickhouse.workdir / "ch.pid")  # B2 reads its CPU time
    try:
        _configure_django(clickhouse.url("spool_bench"))
        for name in wanted:
            result = importlib.import_module(f"bench.{name.lower()}").run()
            print(orjson.dumps({"id": name, **result}).decode(), flush=True)
    finally:
        clickhouse.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
