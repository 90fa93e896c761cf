"""Flushing: batches within Spool's limits, what each answer does to the buffer, dead letters,
the order of profile changes, and the dropped-events count."""
import json
import os

import pytest
from conftest import Reply
from spool_client import SpoolClient


def _rejecting(rules):
    """A server answer: 202 with the rows whose name is in `rules` rejected as rules[name]."""

    def answer(received):
        rejected = []
        for index, line in enumerate(received.lines):
            name = line["payload"].get("name")
            if name in rules:
                reason, code, error = rules[name]
                rejected.append({"index": index, "reason": reason, "code": code, "error": error})
        return Reply(body={"accepted": len(received.lines) - len(rejected), "rejected": rejected})

    return answer


def test_batches_hold_at_most_2000_events_oldest_first(client, server):
    for number in range(2001):
        client.track("reading", {"n": number})

    result = client.flush()

    assert [len(received.lines) for received in server.requests] == [2000, 1]
    assert [line["payload"]["properties"]["n"] for line in server.lines()] == list(range(2001))
    assert (result.sent, result.accepted, result.rejected, result.remaining) == (2001, 2001, 0, 0)


def test_a_batch_is_gzip_ndjson_with_the_credentials_and_the_send_time(client, server):
    client.track("e")
    client.flush()
    headers = server.requests[0].headers
    assert headers["Content-Type"] == "application/x-ndjson"
    assert headers["Content-Encoding"] == "gzip"
    assert headers["openpanel-client-id"] and headers["openpanel-client-secret"] == "sec_test_secret"
    assert headers["spool-sent-at"] == "2025-11-24T16:00:00.000Z"
    assert headers["openpanel-sdk-name"] == "spool-client"


def test_batches_stay_under_the_byte_limit(make_client, server, monkeypatch):
    client = make_client()
    client.max_batch_bytes = 10_000  # the same rule as 10 MiB, with small numbers
    for _ in range(30):
        client.track("big", {"blob": "x" * 900})
    client.flush()
    sizes = [sum(len(json.dumps(line, separators=(",", ":"))) + 1 for line in r.lines) for r in server.requests]
    assert len(server.requests) > 1 and max(sizes) <= 10_000
    assert len(server.lines()) == 30


def test_an_event_over_64_kib_is_dead_lettered_without_being_sent(client, server):
    client.track("before")
    client.track("huge", {"blob": "x" * 70_000})
    client.track("after")

    result = client.flush()

    assert [line["payload"]["name"] for line in server.lines()] == ["before", "after"]
    assert (result.accepted, result.rejected, result.remaining) == (2, 1, 0)
    [letter] = client.dead_letters()
    assert letter["code"] == "too_large" and "65536" in letter["error"]
    assert json.loads(letter["body"])["payload"]["name"] == "huge"


def test_on_413_the_batch_is_split_until_it_fits(client, server):
    server.answer = lambda received: Reply(413, {"error": "payload_too_large", "message": "too big"}) if len(
        received.lines
    ) > 30 else Reply()
    for number in range(100):
        client.track("reading", {"n": number})

    result = client.flush()

    assert [len(r.lines) for r in server.requests] == [100, 50, 25, 25, 50, 25, 25]
    accepted = [r for r in server.requests if len(r.lines) <= 30]
    assert [line["payload"]["properties"]["n"] for r in accepted for line in r.lines] == list(range(100))
    assert (result.accepted, result.remaining) == (100, 0)


def test_a_single_row_answered_413_is_dead_lettered_and_the_rest_goes_on(client, server):
    def answer(received):
        if any(line["payload"]["name"] == "poison" for line in received.lines):
            return Reply(413, {"error": "payload_too_large", "message": "request body larger than 10 bytes"})
        return Reply()

    server.answer = answer
    for name in ["a", "b", "poison", "c"]:
        client.track(name)

    result = client.flush()

    assert (result.accepted, result.rejected, result.remaining) == (3, 1, 0)
    [letter] = client.dead_letters()
    assert letter["code"] == "payload_too_large" and "larger than" in letter["error"]


def test_a_400_for_the_whole_request_splits_but_never_dead_letters(client, server):
    # An operator lowered the batch limit to 2 events: halves until the server takes them.
    server.answer = lambda r: Reply(400, {"error": "invalid_json", "message": "at most 2"}) if len(r.lines) > 2 else Reply()
    for name in "abcdefg":
        client.track(name)
    assert client.flush().accepted == 7

    server.answer = lambda r: Reply(400, {"error": "bad_request", "message": "no"})
    client.track("h")
    result = client.flush()
    assert result.remaining == 1 and result.error.startswith("400 bad_request") and not client.dead_letters()


def test_202_deletes_accepted_rows_dead_letters_validation_and_keeps_internal(client, server, clock):
    server.answer = _rejecting({
        "": ("validation", "invalid_field", "payload.name: this field may not be blank"),
        "flaky": ("internal", "queue_unavailable", "the queue is unavailable; retry this event"),
    })  # fmt: skip
    for name in ["ok-1", "", "flaky", "ok-2"]:
        client.track(name)

    result = client.flush()

    assert (result.sent, result.accepted, result.rejected, result.remaining) == (4, 2, 1, 1)
    [letter] = client.dead_letters()
    assert (letter["code"], letter["error"]) == ("invalid_field", "payload.name: this field may not be blank")
    assert client.status().dead_letters == 1
    assert result.retry_after is not None  # the server struggled: back off before sending it again

    server.answer = lambda received: Reply()
    flaky_id = server.requests[0].insert_ids[2]
    clock.advance(result.retry_after)
    assert client.flush().accepted == 1
    assert server.requests[-1].insert_ids == [flaky_id]  # the same row, the same id: it collapses on the server
    assert client.pending() == 0


def test_a_rejection_without_a_code_is_still_dead_lettered(client, server):
    server.answer = lambda r: Reply(body={"accepted": 0, "rejected": [{"index": 0, "reason": "validation", "error": "x"}]})
    client.track("e")
    client.flush()
    assert client.dead_letters()[0]["code"] == "validation"


def test_an_unknown_reason_keeps_the_row(client, server):
    server.answer = lambda r: Reply(body={"accepted": 0, "rejected": [{"index": 0, "reason": "later", "error": "?"}]})
    client.track("e")
    assert client.flush().remaining == 1 and not client.dead_letters()


@pytest.mark.parametrize("body", [b"ok", b"[]", b'{"status": "fine"}', b'{"accepted": "2"}'])
def test_a_2xx_that_is_not_a_batch_answer_keeps_everything(client, server, body):
    server.answer = lambda r: Reply(200, body)
    client.track("e")
    result = client.flush()
    assert result.remaining == 1 and result.retry_after is not None and "answer" in result.error


def test_the_clock_correction_the_server_made_is_kept_for_status(client, server):
    server.answer = lambda r: Reply(body={"accepted": 1, "rejected": [], "clockSkewMs": -172_800_000})
    client.track("e")
    client.flush()
    assert client.status().clock_skew_ms == -172_800_000


def test_profile_changes_go_in_small_requests_of_their_own_and_keep_their_order(make_client, server):
    client = make_client()
    client.max_changes_per_batch = 3
    client.identify("u1", email="a@example.com")
    for number in range(5):
        client.track("scan", {"n": number})
        client.increment("u1", "scans", number + 1)
    client.identify("u1", properties={"plan": "pro"})

    client.flush()

    kinds = [{line["type"] for line in received.lines} for received in server.requests]
    assert kinds == [{"identify", "increment"}, {"track"}, {"increment"}, {"identify"}]  # oldest first
    changes = [line for line in server.lines() if line["type"] != "track"]
    assert [(c["type"], c["payload"].get("value")) for c in changes] == [
        ("identify", None), ("increment", 1), ("increment", 2), ("increment", 3), ("increment", 4),
        ("increment", 5), ("identify", None),
    ]  # fmt: skip
    assert all(len(received.lines) <= 3 for received in server.requests if "track" not in received.lines[0]["type"])


def test_a_split_keeps_the_order_of_profile_changes(make_client, server):
    client = make_client()
    server.answer = lambda r: Reply(413, {"error": "payload_too_large", "message": ""}) if len(r.lines) > 1 else Reply()
    for number in range(6):
        client.increment("u1", "n", number + 1)
    client.flush()
    taken = [r.lines[0]["payload"]["value"] for r in server.requests if len(r.lines) == 1]
    assert taken == [1, 2, 3, 4, 5, 6]


def test_max_batches_bounds_one_flush(make_client, server):
    client = make_client()
    client.max_batch_events = 10  # the rule of 2000, with small numbers
    for _ in range(25):
        client.track("e")
    result = client.flush(max_batches=1)
    assert (len(server.requests), result.remaining) == (1, 15)
    client.flush()
    assert client.pending() == 0 and [len(r.lines) for r in server.requests] == [10, 10, 5]


def test_rows_recorded_during_a_flush_wait_for_the_next(make_client, server):
    client = make_client()
    server.answer = lambda received: (client.track("during"), Reply())[1]
    client.track("before")
    assert client.flush().accepted == 1
    assert client.pending() == 1  # recorded while the request was out


def test_past_max_buffer_events_the_oldest_events_are_dropped_and_counted(make_client, server):
    client = make_client(max_buffer_events=5)
    client.identify("u1")
    for number in range(8):
        client.track("e", {"n": number})

    status = client.status()
    assert client.pending() == 5
    assert (status.dropped_events, status.dropped_unreported) == (4, 4)

    client.flush()
    kept = [line for line in server.lines() if line["type"] == "track"]
    assert [line["payload"]["properties"]["n"] for line in kept] == [4, 5, 6, 7]
    assert [line["type"] for line in server.lines()].count("identify") == 1  # profile changes are kept first
    assert kept[0]["payload"]["properties"]["spool_dropped_events"] == 4
    assert all("spool_dropped_events" not in line["payload"]["properties"] for line in kept[1:])
    assert client.status().dropped_unreported == 0 and client.status().dropped_events == 4

    client.track("later")
    client.flush()
    assert "spool_dropped_events" not in server.lines()[-1]["payload"]["properties"]  # told once


def test_when_only_profile_changes_are_left_the_oldest_change_goes(make_client):
    client = make_client(max_buffer_events=2)
    for number in range(3):
        client.increment("u1", "n", number + 1)
    assert client.pending() == 2 and client.status().dropped_events == 1


def test_the_dropped_count_is_told_again_when_its_event_was_refused(make_client, server):
    client = make_client(max_buffer_events=2)
    for name in ["old", "", "next"]:
        client.track(name)
    server.answer = _rejecting({"": ("validation", "invalid_field", "blank")})
    client.flush()
    assert client.status().dropped_unreported == 1  # its carrier was dead-lettered

    server.answer = lambda r: Reply()
    client.track("later")
    client.flush()
    assert server.lines()[-1]["payload"]["properties"]["spool_dropped_events"] == 1
    assert client.status().dropped_unreported == 0


def test_a_drained_buffer_gives_its_disk_space_back(client, buffer_path):
    for _ in range(300):
        client.track("e", {"blob": "x" * 10_000})
    full = os.path.getsize(buffer_path) + os.path.getsize(buffer_path + "-wal")
    client.flush()
    assert full > 3_000_000 and os.path.getsize(buffer_path) < 100_000
    assert os.path.getsize(buffer_path + "-wal") <= 4 * 1024 * 1024 + 100_000  # the WAL shrinks back too


def test_the_api_url_may_end_in_a_slash_or_api(server, buffer_path, clock):
    for base in (server.url + "/", server.url + "/api"):
        with SpoolClient(base, "id", path=buffer_path, clock=clock) as client:
            client.track("e")
            client.flush()
    assert [received.path for received in server.requests] == ["/track/batch", "/api/track/batch"]
