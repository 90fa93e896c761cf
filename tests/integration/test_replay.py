"""Spec §9: `manage.py replay_events` replays buffered files through the batch service."""
import gzip
import io
import os
import subprocess
import sys
from pathlib import Path

import django_rq
import orjson
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, OutputWrapper

from ingest.management.commands.replay_events import ProgressDisplay
from ingest.replay import run as replay
from projects.services import rotate_salts
from storage.queue import queues
from tests.support import stored
from tests.support.agents import BROWSER_UA
from tests.support.events import at, now_ms, track
from tests.support.live import ROOT, LiveStack
from tests.support.servers import PrivateRedis
from tests.support.worker import drain

pytestmark = pytest.mark.django_db


def run(project, *files, **options) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("replay_events", *map(str, files), project=str(project.client_id), stdout=out, stderr=err, **options)
    return out.getvalue()


def rejected_lines(path: Path) -> list[dict]:
    target = path.with_name(path.name + ".rejected.ndjson")
    return [orjson.loads(line) for line in target.read_bytes().splitlines()]


def summary_number(output: str, label: str) -> int:
    line = next(line for line in output.splitlines() if line.strip().startswith(label))
    return int(line.split()[1].replace(",", ""))


def ndjson(*rows) -> bytes:
    return b"".join((row if isinstance(row, bytes) else orjson.dumps(row)) + b"\n" for row in rows)


def test_ndjson_with_bad_lines(project, tmp_path):
    base = now_ms() - 3_600_000
    path = tmp_path / "buffer.ndjson"
    path.write_bytes(
        ndjson(
            at("first", base, device="phone-1"),
            b"",
            b"{not json",
            b'"just a string"',
            track("untimed"),
            {"type": "track", "payload": {"name": ""}},
            at("last", base + 1000, device="phone-1"),
        )
    )
    output = run(project, path)
    assert (summary_number(output, "lines"), summary_number(output, "events")) == (7, 6)
    assert (summary_number(output, "accepted"), summary_number(output, "rejected")) == (3, 3)
    assert "validation 3" in output and f"{path}.rejected.ndjson (3)" in output
    bad = rejected_lines(path)
    assert [row["line"] for row in bad] == [3, 4, 6]
    assert "invalid JSON" in bad[0]["error"] and bad[0]["raw"] == "{not json"
    assert "expected an object" in bad[1]["error"]
    assert bad[2]["error"] == "payload.name: this field may not be blank" and bad[2]["reason"] == "validation"
    drain()
    rows = stored.events(project.id)
    assert sorted(row["name"] for row in rows) == ["first", "last", "untimed"]
    assert {row["sdk_name"] for row in rows} == {"replay_events"}


def test_array_envelope_and_gzip(project, tmp_path):
    base = now_ms() - 3_600_000
    array = tmp_path / "buffer.json"
    # Pretty-printed: a row is reported by the line it starts on.
    first, second, third = (
        orjson.dumps(row, option=orjson.OPT_INDENT_2).decode()
        for row in [at("a1", base, device="d"), {"type": "track", "payload": {"name": 7}}, at("a2", base + 1, device="d")]
    )
    array.write_text("[\n" + ",\n".join([first, second, third]) + "\n]\n")
    second_line = 2 + first.count("\n") + 1
    envelope = tmp_path / "envelope.json.gz"
    envelope.write_bytes(
        gzip.compress(orjson.dumps({"device": {"os": "iOS"}, "events": [at("e1", base, device="d"), 5]}))
    )
    plain_gz = tmp_path / "lines.ndjson.gz"
    plain_gz.write_bytes(gzip.compress(ndjson(at("n1", base, device="d"), at("n2", base + 5, device="d"))))

    output = run(project, array, envelope, plain_gz)
    assert summary_number(output, "files") == 3
    assert (summary_number(output, "accepted"), summary_number(output, "rejected")) == (5, 2)
    (bad,) = rejected_lines(array)
    assert bad["line"] == second_line and bad["error"] == "payload.name: not a valid string"
    assert orjson.loads(bad["raw"]) == {"type": "track", "payload": {"name": 7}}
    assert rejected_lines(envelope)[0]["raw"] == "5"
    drain()
    assert sorted(row["name"] for row in stored.events(project.id)) == ["a1", "a2", "e1", "n1", "n2"]


def _write(path: Path, rows: list[bytes], shape: str) -> Path:
    if shape == "array":
        data = b"[\n" + b",\n".join(rows) + b"\n]\n"
    elif shape == "envelope":
        data = b'{"events": [\n' + b",\n".join(rows) + b"\n]}\n"
    else:
        data = b"\n".join(rows) + b"\n"
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.mark.parametrize("name, shape", [("a.ndjson", "ndjson"), ("a.json", "array"), ("a.json", "envelope"),
                                         ("a.json.gz", "array"), ("a.ndjson.gz", "ndjson")])  # fmt: skip
def test_huge_numbers_and_deep_nesting_are_bad_rows_and_the_rest_goes_through(project, tmp_path, name, shape):
    """Finding 3: such rows made replay_events die with a traceback (OverflowError, RecursionError),
    so the file could never be replayed."""
    base = now_ms() - 3_600_000
    huge = b"1" + b"0" * 400
    deep = b"[" * 5000 + b"]" * 5000
    rows = [
        orjson.dumps(at("before", base, device="d")),
        b'{"type": "track", "payload": {"name": "t", "properties": {"__timestamp": ' + huge + b"}}}",
        b'{"type": "identify", "payload": {"profileId": "p", "properties": {"n": ' + huge + b"}}}",
        b'{"type": "increment", "payload": {"profileId": "p", "property": "n", "value": ' + huge + b"}}",
        b'{"type": "track", "payload": {"name": "deep", "properties": {"x": ' + deep + b"}}}",
        b'{"type": "track", "payload": {"name": "big", "properties": {"__deviceId": "d", "__timestamp": %d, "n": 36893488147419103232, "s": "\\ud800"}}}' % base,
        orjson.dumps(at("after", base + 1, device="d")),
    ]
    path = _write(tmp_path / name, rows, shape)
    output = run(project, path)
    assert (summary_number(output, "accepted"), summary_number(output, "rejected")) == (4, 3)
    bad = rejected_lines(path)
    assert [row["code"] for row in bad] == ["invalid_timestamp", "invalid_field", "too_deep"]
    drain()
    assert sorted(row["name"] for row in stored.events(project.id)) == ["after", "before", "big"]
    assert stored.profile(project.id, "p")["properties"]["n"] == "1" + "0" * 400


def test_a_rerun_stores_nothing_new(project, tmp_path):
    base = now_ms() - 2 * 3_600_000
    path = tmp_path / "buffer.ndjson"
    rows = [at("timed_device", base + i, device="sensor") for i in range(3)]
    rows += [track("timed_no_device", __timestamp=base + 10 + i, n=i) for i in range(3)]
    rows += [track("untimed"), track("untimed")]  # two events: the same text on two lines
    rows += [track("given_id", __insertId="abc-1")]
    path.write_bytes(ndjson(*rows))
    os.utime(path, (base / 1000, base / 1000))

    run(project, path, user_agent=BROWSER_UA, ip="81.2.69.142")
    drain()
    first = {row["id"]: row for row in stored.events(project.id, "name != 'session_start'")}
    assert len(first) == 9
    untimed = [row for row in first.values() if row["name"] == "untimed"]
    assert [row["ms"] for row in untimed] == [base, base]  # the file's modification time

    rotate_salts([project])  # the next day's salt: hashed device ids change, row ids must not
    run(project, path, user_agent=BROWSER_UA, ip="81.2.69.142")
    drain()
    again = {row["id"] for row in stored.events(project.id, "name != 'session_start'")}
    assert again == set(first)
    assert stored.count(project.id, "name != 'session_start'") == 9


def test_dry_run_queues_nothing_and_reports_rejections(project, tmp_path):
    path = tmp_path / "buffer.ndjson"
    path.write_bytes(ndjson(track("ok"), b"[oops"))
    output = run(project, path, dry_run=True)
    assert "dry run" in output
    assert (summary_number(output, "accepted"), summary_number(output, "rejected")) == (1, 1)
    assert rejected_lines(path)[0]["line"] == 2
    assert all(django_rq.get_queue(name).count == 0 for name in queues.NAMES)
    drain()
    assert stored.count(project.id) == 0


def test_unreadable_files_are_reported_and_the_rest_goes_through(project, tmp_path):
    good = tmp_path / "good.ndjson"
    good.write_bytes(ndjson(track("good")))
    truncated = tmp_path / "cut.ndjson.gz"
    truncated.write_bytes(gzip.compress(ndjson(*[track("before_cut", i=i) for i in range(2000)]))[:-200])
    broken_array = tmp_path / "broken.json"
    broken_array.write_text('[\n{"type": "track", "payload": {"name": "kept"}},\n{"type": oops}\n]')
    out = io.StringIO()
    with pytest.raises(CommandError, match="3 of 4 file"):
        call_command(
            "replay_events", str(tmp_path / "missing.ndjson"), str(truncated), str(broken_array), str(good),
            project=str(project.client_id), stdout=out, stderr=io.StringIO(),
        )  # fmt: skip
    output = out.getvalue()
    assert "missing.ndjson: cannot open: No such file or directory" in output
    assert "cut.ndjson.gz: after line" in output and "truncated" in output
    assert "broken.json: line 3: invalid JSON" in output
    drain()
    names = [row["name"] for row in stored.events(project.id)]
    assert names.count("good") == 1 and names.count("kept") == 1
    assert 1900 < names.count("before_cut") < 2000


def test_refuses_an_unknown_project_a_bad_ip_and_a_crawler(project, tmp_path):
    path = tmp_path / "buffer.ndjson"
    path.write_bytes(ndjson(track("x")))
    with pytest.raises(CommandError, match="no project"):
        call_command("replay_events", str(path), project="2b1f7a84-0000-4000-8000-000000000000", stdout=io.StringIO())
    with pytest.raises(CommandError, match="UUID"):
        call_command("replay_events", str(path), project="my-app", stdout=io.StringIO())
    with pytest.raises(CommandError, match="not an IP"):
        run(project, path, ip="300.1.1.1")
    with pytest.raises(CommandError, match="crawler"):
        run(project, path, user_agent="Googlebot/2.1 (+http://www.google.com/bot.html)")


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise():
    step = replay.Progress("buffer.ndjson", done_bytes=50, total_bytes=100, rows=2000, seconds=0.5)
    terminal = io.StringIO()
    bar = ProgressDisplay(OutputWrapper(terminal), tty=True)
    bar.last = 0
    bar.update(step)
    bar.finish()
    assert terminal.getvalue().startswith("\rbuffer.ndjson [###############...............]  50%  2,000 events, 4,000")
    assert terminal.getvalue().endswith("\n")

    log = io.StringIO()
    lines = ProgressDisplay(OutputWrapper(log), tty=False, every=0)
    lines.update(step)
    lines.finish()  # the last state was shown already
    assert log.getvalue() == "buffer.ndjson: 50% read, 2,000 events, 4,000 events/s\n"


# --- as a process: exit status and memory ------------------------------------------------------------


@pytest.fixture(scope="module")
def cli(tmp_path_factory, django_db_blocker):
    """The command run as operators run it: its own process, database and Redis."""
    workdir = tmp_path_factory.mktemp("replay-cli")
    redis = PrivateRedis(workdir / "redis")
    (workdir / "redis").mkdir()
    redis.start()
    stack = LiveStack(workdir, redis_url=redis.url())
    with django_db_blocker.unblock():
        stack.manage("migrate", "--noinput", "-v0")
        stack.client_id = stack.create_project("--name", "Replay")["client_id"]
    yield stack
    redis.remove()


def replay_process(cli, *args: str) -> tuple[int, str]:
    """(exit status, stderr) of one `replay_events` process."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "replay_events", *args], cwd=ROOT, env=cli.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr.decode()


def test_exit_status(cli, tmp_path):
    path = tmp_path / "buffer.ndjson"
    path.write_bytes(ndjson(track("ok"), b"{bad"))
    assert replay_process(cli, str(path), "--project", cli.client_id, "--dry-run")[0] == 0  # rejected rows: still 0
    status, stderr = replay_process(cli, str(path), "--project", "2b1f7a84-0000-4000-8000-000000000000")
    assert status == 1 and "no project" in stderr
    status, stderr = replay_process(cli, str(tmp_path / "missing"), "--project", cli.client_id)
    assert status == 1 and "could not be read" in stderr


def write_array_gz(path: Path, rows: int) -> None:
    """A gzip JSON array of bulky events (about 3 KB each, random: the file does not compress to nothing)."""
    base = now_ms() - 3_600_000
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(b"[\n")
        for number in range(rows):
            event = at("bulky", base + number, device=f"d{number % 50}", n=number, blob=os.urandom(1500).hex())
            out.write((b",\n" if number else b"") + orjson.dumps(event))
        out.write(b"\n]\n")


def peak_rss_mb(cli, path: Path) -> float:
    process = subprocess.Popen(
        [sys.executable, "manage.py", "replay_events", str(path), "--project", cli.client_id], cwd=ROOT,
        env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read().decode()
    process.stdout.close()
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert summary_number(output, "rejected") == 0
    return usage.ru_maxrss / 1024


def test_memory_stays_flat_however_large_the_file(cli, tmp_path):
    small, large = tmp_path / "small.json.gz", tmp_path / "large.json.gz"
    write_array_gz(small, 2_500)  # 8 MB of JSON (4 MB gzip): more than one chunk, like the large one
    write_array_gz(large, 50_000)  # 160 MB of JSON (85 MB gzip)
    small_rss, large_rss = peak_rss_mb(cli, small), peak_rss_mb(cli, large)
    assert large_rss - small_rss < 25, (small_rss, large_rss)
