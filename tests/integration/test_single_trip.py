"""Issue 13: a single `/track` makes one Redis round trip (admission, duplicate guard, live-session
lookup, profile check and the buffer push in one script), counted on the real Redis with MONITOR;
and the script places an event exactly as `sessions_app.assign.place` does."""
import itertools
import logging
import random
import threading
import uuid

import orjson
import pytest

from contract import messages
from ingest.pipeline import accept
from sessions_app import identity, rules
from sessions_app.assign import place
from sessions_app.live import LiveSession
from storage.queue import buffers
from storage.redis import client as redis
from storage.redis import keys
from tests.support.agents import BROWSER_UA
from tests.support.events import iso, now_ms, track

pytestmark = pytest.mark.django_db
IP = "81.2.69.142"


class Commands:
    """The commands the clients of this test's Redis database send (not those a script runs), between
    two markers, read with MONITOR."""

    def __init__(self):
        self.db = redis.client().connection_pool.connection_kwargs.get("db", 0)
        self.seen: list[str] = []
        self._monitor = redis.client().monitor()
        self._monitor.__enter__()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self._marker("start")

    def _marker(self, name: str) -> None:
        redis.client().echo(f"commands-{name}")

    def _read(self) -> None:
        recording = False
        while True:
            command = self._monitor.next_command()
            if command["db"] != self.db or command["client_type"] == "lua":
                continue
            text = command["command"]
            if text == "ECHO commands-start":
                recording = True
            elif text == "ECHO commands-stop":
                return
            elif recording:
                self.seen.append(text.split(" ", 1)[0].upper())

    def stop(self) -> list[str]:
        self._marker("stop")
        self._thread.join(10)
        self._monitor.__exit__(None, None, None)
        return self.seen


def _send(api, body: dict, **headers):
    return api.generic("POST", "/track", orjson.dumps(body), content_type="application/json", **headers)


def _commands_of(api, body: dict, **headers):
    commands = Commands()
    response = _send(api, body, **headers)
    return response, commands.stop()


def test_a_single_event_is_one_round_trip(api, project):
    # The first event loads the script, and the first push into an idle buffer enqueues its drain
    # job (an RQ enqueue, as before): not counted.
    warm = _send(api, track("warm-up"), HTTP_ORIGIN="https://app.example.com")
    assert warm.status_code == 200
    assert _send(api, {"type": "identify", "payload": {"profileId": "u-0"}}).status_code == 200
    device = warm.json()["deviceId"]
    ms = now_ms()
    redis.client().hset(keys.live_device(project.id, device), mapping={"sid": "live-1", "first": ms - 60_000, "last": ms})

    cases = [
        (track("with origin", n=1), {"HTTP_ORIGIN": "https://app.example.com"}),
        (track("timed", __timestamp=iso(ms - 1_000)), {}),
        ({"type": "identify", "payload": {"profileId": "u-1", "email": "u1@example.com"}}, {}),
        ({"type": "increment", "payload": {"profileId": "u-1", "property": "visits"}}, {}),
        (track("signed in", __identify={"profileId": "u-2", "firstName": "Two"}), {}),
    ]
    for body, headers in cases:
        response, commands = _commands_of(api, body, **headers)
        assert response.status_code == 200, response.content
        assert response.json()["sessionId"] == "live-1"
        assert commands == ["EVALSHA"], (body, commands)

    # A duplicate (the same body from the same origin within 100 ms) takes the same one trip.
    commands = Commands()
    twice = track("twice", n=2)
    first, again = (_send(api, twice, HTTP_ORIGIN="https://app.example.com") for _ in range(2))
    assert commands.stop() == ["EVALSHA", "EVALSHA"]
    assert first.json() == {"deviceId": device, "sessionId": "live-1"}
    assert again.json() == {"deviceId": device, "sessionId": "live-1", "duplicate": True}
    unknown, commands = _commands_of(api, {"type": "increment", "payload": {"profileId": "nobody", "property": "x"}})
    assert unknown.status_code == 404
    # The trip, then the rejected row recorded (the error path's own pipeline, unchanged).
    assert commands == ["EVALSHA", "SCRIPT", "HINCRBY", "EXPIRE", "HINCRBY", "EVALSHA"]
    # What the trips pushed: each event and change once, each counted once, identified profiles known.
    assert redis.client().llen(buffers.EVENT_BUFFER.key) == 5  # warm-up, "with origin", "timed", "signed in", "twice"
    assert redis.client().llen(buffers.PROFILE_BUFFER.key) == 4  # identify u-0, u-1, its increment, identify u-2
    assert int(redis.client().hget(keys.TOTAL_ACCEPTED, project.id)) == 8
    assert redis.client().smismember(keys.known_profiles(project.id), ["u-1", "u-2", "nobody"]) == [1, 1, 0]


def test_a_batch_of_events_is_two_round_trips(api, project, settings):
    """Admission (its script by SHA alone: redis-py's way sent SCRIPT EXISTS first, a round trip of
    its own) with the lookups; then each chunk in its transaction. The batch slot of issue 10 (two
    more trips) is gone: the web server bounds a project's requests in flight (config/web_worker.py)."""
    settings.EVENTS_PER_JOB = 2
    batch = {"events": [track("batched", i=i) for i in range(3)]}
    assert api.post("/track/batch", batch, format="json").status_code == 202  # loads the scripts
    commands = Commands()
    response = api.post("/track/batch", batch, format="json")
    assert response.json() == {"accepted": 3, "rejected": []}
    seen = commands.stop()
    assert "SCRIPT" not in seen, seen
    assert seen[0] == "EVALSHA" and seen[1] == "HMGET", seen  # admission, then the lookups
    chunks = " ".join(seen).split("MULTI")
    assert "EVALSHA" not in " ".join(chunks[1:]), seen
    assert len(chunks[1:]) == 2 and all(chunk.strip().endswith("EXEC") for chunk in chunks[1:]), seen


def test_a_pipeline_loads_a_script_redis_has_not_got_and_runs_it_once():
    # A script Redis has never seen: its first run answers NOSCRIPT, as after a restart.
    source = f"-- {uuid.uuid4().hex}\nreturn redis.call('INCR', KEYS[1])"
    redis.client().set("spool:test:read", "x")

    def queue(pipe):
        redis.queue_script(pipe, source, ["spool:test:runs"], [])
        pipe.get("spool:test:read")
        return "queued"

    assert redis.read_pipeline(queue) == ("queued", [1, b"x"])
    assert redis.read_pipeline(queue) == ("queued", [2, b"x"])


def _pushed_event() -> dict:
    [raw] = redis.client().lrange(buffers.EVENT_BUFFER.key, -1, -1)
    packet = messages.read_event_packet(orjson.loads(raw))
    return packet["events"][0]


def test_the_script_places_as_place_does(api, project, caplog):
    """Random live states of the current and the previous salt's device, inside, outside, or holding
    the event's own bucket id: the pushed event carries what `place` decides for them."""
    rng = random.Random(13)
    window, timeout = rules.window_ms(), rules.timeout_ms()
    current = identity.device_id(BROWSER_UA, IP, project.id, project.salts.all()[0].salt)
    previous = identity.device_id(BROWSER_UA, IP, project.id, project.salts.all()[1].salt)
    base = now_ms() - 3_600_000
    caplog.set_level(logging.ERROR, logger="ingest.pipeline.accept")
    for number, (state_now, state_before) in enumerate(itertools.product(("none", "in", "out", "own"), repeat=2)):
        ms = base + rng.randint(0, 600_000)
        own = identity.session_id_for(project.id, current, identity.bucket_of(ms, window))
        states = {}
        for device, kind in ((current, state_now), (previous, state_before)):
            redis.client().delete(keys.live_device(project.id, device))
            if kind == "none":
                continue
            first = ms - rng.randint(0, timeout) if kind == "in" else ms + 2 * timeout + rng.randint(1, 10**6)
            session = LiveSession(own if kind == "own" else f"live-{number}-{kind}", first, first + rng.randint(0, 1000))
            states[device] = session
            redis.client().hset(
                keys.live_device(project.id, device),
                mapping={"sid": session.session_id, "first": session.first_ms, "last": session.last_ms},
            )
        response = _send(api, track("placed", __timestamp=iso(ms), n=number))
        assert response.status_code == 200, response.content
        probe = accept.Prepared(0, "track", {}, (current, previous), ms)
        [expected] = place([probe], project.id, states, accept._rules())
        event = _pushed_event()
        assert (event["device_id"], event["session_id"], event.get("live")) == (
            expected.device_id, expected.session_id, 1 if expected.live else None,
        ), (state_now, state_before)  # fmt: skip
        assert response.json() == {"deviceId": expected.device_id, "sessionId": expected.session_id}
    assert not caplog.records


def test_a_server_event_is_placed_in_its_bucket(client_for, project):
    server = client_for(user_agent="python-requests/2.32.3")
    ms = now_ms() - 120_000
    response = _send(server, track("server", __timestamp=iso(ms)))
    assert response.status_code == 200
    event = _pushed_event()
    device = response.json()["deviceId"]
    bucket = identity.session_id_for(project.id, device, identity.bucket_of(ms, rules.window_ms()))
    assert "live" not in event and event["session_id"] == response.json()["sessionId"] == bucket
