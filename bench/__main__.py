"""`python -m bench [B1 B2 ...]`: run the benchmarks (all by default), one JSON line each."""
import importlib
import os
import sys
import uuid
from urllib.parse import urlsplit

import orjson

BENCHMARKS = ("B1", "B2", "B3", "B4")


def _configure_django() -> None:
    """The benchmark process reads ClickHouse through ingest.store, in a database of this run's own."""
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    base = os.environ.get("CLICKHOUSE_URL") or "clickhouse://default:@127.0.0.1:9000/spool"
    os.environ["CLICKHOUSE_URL"] = urlsplit(base)._replace(path=f"/spool_bench_{uuid.uuid4().hex[:10]}").geturl()
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def main(names: list[str]) -> int:
    wanted = [name.upper() for name in names] or list(BENCHMARKS)
    unknown = [name for name in wanted if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    _configure_django()
    from bench.stack import drop_database

    try:
        for name in wanted:
            result = importlib.import_module(f"bench.{name.lower()}").run()
            print(orjson.dumps({"id": name, **result}).decode(), flush=True)
    finally:
        drop_database()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
