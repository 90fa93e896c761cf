"""`manage.py replay_events FILE... --project CLIENT_ID` (contract §9): arguments, progress and summary
around ingest/replay/run.py."""
import time
import uuid
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from ingest.enrich.ip import valid_ip
from ingest.enrich.ua import parse_agent
from ingest.replay import run as replay
from projects.auth import ProjectContext, load_project


def _plain(text: str) -> str:
    return text


class ProgressDisplay:
    """A bar with events per second on a terminal; a plain line every few seconds (and at the end
    of each file) otherwise, for logs."""

    WIDTH = 30

    def __init__(self, out: OutputWrapper, tty: bool, every: float = 5.0) -> None:
        self.out, self.tty, self.every = out, tty, every
        self.last = time.monotonic()  # plain lines: the first one after `every` seconds
        self.latest: replay.Progress | None = None
        self.shown: replay.Progress | None = None

    def _write(self, text: str, ending: str = "\n") -> None:
        self.out.write(text, style_func=_plain, ending=ending)
        self.out.flush()

    def update(self, progress: replay.Progress, final: bool = False) -> None:
        now = time.monotonic()
        self.latest = progress
        if not final and now - self.last < (0.1 if self.tty else self.every):
            return
        self.last, self.shown = now, progress
        share = min(1.0, progress.done_bytes / progress.total_bytes) if progress.total_bytes else 1.0
        rate = progress.rows / progress.seconds if progress.seconds > 0 else 0.0
        counts = f"{progress.rows:,} events, {rate:,.0f} events/s"
        if self.tty:
            filled = round(share * self.WIDTH)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self._write(f"\r{progress.path} [{bar}] {share:4.0%}  {counts}\x1b[K", ending="\n" if final else "")
        else:
            self._write(f"{progress.path}: {share:.0%} read, {counts}")

    def finish(self) -> None:
        """The last state of a file, on a line of its own."""
        if self.latest is not None and (self.tty or self.latest is not self.shown):
            self.update(self.latest, final=True)
        self.latest = None


class Command(BaseCommand):
    help = (
        "Replay buffered event files (NDJSON, a JSON array or {\"events\": [...]}; .gz too) into a project, "
        "through the same service as POST /track/batch. Rejected rows go to FILE.rejected.ndjson."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument("--project", required=True, metavar="CLIENT_ID", help="the project's client id")
        parser.add_argument("--dry-run", action="store_true", help="validate only; queue nothing")
        parser.add_argument("--ip", default="", help="the IP the buffer came from (geo, device ids)")
        parser.add_argument("--user-agent", default="", help="the user agent of the device the buffer came from")

    def handle(self, *args: Any, **options: Any) -> None:
        project = self._project(options["project"])
        sender = replay.Sender(ip=self._ip(options["ip"]), user_agent=options["user_agent"])
        if parse_agent(sender.user_agent).bot:
            raise CommandError("--user-agent is a crawler's: nothing would be stored")
        display = ProgressDisplay(self.stderr, tty=self.stderr.isatty())
        results, aborted = [], ""
        for path in options["files"]:
            try:
                result = replay.replay_file(project, path, sender, options["dry_run"], display.update)
            except replay.ReplayAborted as error:
                results.append(error.result)
                aborted = str(error)
                break
            finally:
                display.finish()
            results.append(result)
        self.stdout.write(summary(results, options["dry_run"]))
        unread = [result for result in results if result.error]
        if aborted:
            raise CommandError(aborted)
        if unread:
            raise CommandError(f"{len(unread)} of {len(results)} file(s) could not be read to the end")

    @staticmethod
    def _project(client_id: str) -> ProjectContext:
        try:
            client_id = str(uuid.UUID(client_id))
        except ValueError:
            raise CommandError(f"--project must be a project's client id (a UUID), not {client_id!r}") from None
        project = load_project(client_id)
        if project is None:
            raise CommandError(f"no project has the client id {client_id}")
        return project

    @staticmethod
    def _ip(value: str) -> str:
        if not value:
            return ""
        try:
            return valid_ip(value)
        except ValueError:
            raise CommandError(f"--ip {value!r} is not an IP address") from None


def summary(results: list[replay.FileResult], dry_run: bool) -> str:
    rejected = sum((result.rejected for result in results), Counter())
    rows = sum(result.rows for result in results)
    seconds = sum(result.seconds for result in results)
    by_reason = ", ".join(f"{reason} {count:,}" for reason, count in sorted(rejected.items()))
    lines = [
        "replay summary" + (" (dry run: validated only, nothing queued)" if dry_run else ""),
        f"  files     {len(results)}",
        f"  lines     {sum(result.lines for result in results):,}",
        f"  events    {rows:,}",
        f"  accepted  {sum(result.accepted for result in results):,}",
        *([f"  stored    {stored:,} (exported rows already stored: skipped)"]
          if (stored := sum(result.already_stored for result in results)) else []),
        f"  rejected  {sum(rejected.values()):,}" + (f" ({by_reason})" if by_reason else ""),
        f"  seconds   {seconds:.1f} ({rows / seconds if seconds else 0:,.0f} events/s)",
    ]
    written = [result for result in results if result.rejected_path]
    if written:
        lines.append("rejected rows, with their line numbers:")
        lines += [f"  {result.rejected_path} ({sum(result.rejected.values()):,})" for result in written]
    unread = [result for result in results if result.error]
    if unread:
        lines.append("not read to the end:")
        lines += [f"  {result.path}: {result.error}" for result in unread]
    if not dry_run and rows:
        lines.append("accepted events are queued; a running worker (manage.py rqworker) stores them")
    return "\n".join(lines)
