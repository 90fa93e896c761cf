"""The command line: `python -m spool_client flush|status|dead-letters --path DB ...`.

Each prints one JSON object (dead-letters: one per line). `flush` exits 0 when its pass ended
normally, 75 (EX_TEMPFAIL) when it must be tried again later, 1 when it stopped on an error that
waiting will not fix (401)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from spool_client.buffer import Buffer
from spool_client.client import SpoolClient, read_status

EX_TEMPFAIL = 75


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m spool_client", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    flush = commands.add_parser("flush", help="send what the buffer holds, once")
    flush.add_argument("--path", required=True, help="the buffer's SQLite file")
    flush.add_argument("--api-url", required=True, help="Spool's base URL, e.g. https://spool.example.com")
    flush.add_argument("--client-id", required=True)
    flush.add_argument("--client-secret", default=os.environ.get("SPOOL_CLIENT_SECRET"),
                       help="or the environment variable SPOOL_CLIENT_SECRET (kept out of `ps`)")  # fmt: skip
    flush.add_argument("--max-batches", type=int, default=None)
    for name, text in (("status", "pending, dead-lettered, dropped, last error"), ("dead-letters", "the newest")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--path", required=True, help="the buffer's SQLite file")
        if name == "dead-letters":
            command.add_argument("--limit", type=int, default=100)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command != "flush" and not os.path.exists(args.path):
        print(f"no buffer at {args.path}", file=sys.stderr)
        return 2
    if args.command == "flush":
        with SpoolClient(args.api_url, args.client_id, args.client_secret, path=args.path) as client:
            result = client.flush(max_batches=args.max_batches)
        print(json.dumps(dataclasses.asdict(result)))
        if result.error is not None and result.retry_after is None:
            return 1
        return EX_TEMPFAIL if result.retry_after is not None else 0
    buffer = Buffer(args.path)
    try:
        if args.command == "status":
            print(json.dumps(dataclasses.asdict(read_status(buffer))))
        else:
            for letter in buffer.dead_letters(args.limit):
                letter["event"] = json.loads(letter.pop("body"))
                print(json.dumps(letter, ensure_ascii=False))
    finally:
        buffer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
