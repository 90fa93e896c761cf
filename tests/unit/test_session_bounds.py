"""What a live session keeps in Redis (sessions_app/bounds.py, storage.redis.keys.profile_ref), as tables."""
import pytest

from sessions_app import bounds, identity
from storage.redis import keys

MINUTE = 60_000
DAY = 86_400_000


@pytest.mark.parametrize(
    "text, expected",
    [
        ("/home", "/home"),
        ("/" + "p" * 63, "/" + "p" * 63),  # exactly 64 bytes: kept
        ("/" + "p" * 64, "/" + "p" * 60 + "…"),  # 61 bytes and the mark
        ("/" + "é" * 40, "/" + "é" * 30 + "…"),  # never half a character: 61 bytes, 60 of them é's
        ("", ""),
    ],
)
def test_a_value_is_cut_to_64_bytes_with_a_mark(text, expected):
    assert bounds.cut(text) == expected
    assert len(bounds.cut(text).encode()) <= bounds.VALUE_BYTES


def test_fingerprints_are_short_and_stable():
    first = bounds.fingerprint("5d0f6f36-0000-4000-8000-000000000001")
    assert len(first) == bounds.FINGERPRINT_BYTES
    assert first == bounds.fingerprint("5d0f6f36-0000-4000-8000-000000000001")
    assert first != bounds.fingerprint("5d0f6f36-0000-4000-8000-000000000002")
    assert bounds.SEEN * bounds.FINGERPRINT_BYTES <= bounds.VALUE_BYTES


def test_a_state_lives_the_timeout_plus_the_backfill_window():
    assert bounds.state_ttl_ms(30 * MINUTE, 5) == 30 * MINUTE + 5 * DAY


@pytest.mark.parametrize(
    "timeout, backfill, keep_after_bucket",
    [
        (30 * MINUTE, 5, 5 * DAY),  # a buffered event of the bucket can come until the backfill window ends
        (8 * DAY, 5, 8 * DAY),  # a live one until the timeout, when that is longer
    ],
)
def test_an_ended_session_is_marked_until_nothing_can_reopen_it(timeout, backfill, keep_after_bucket):
    window = 30 * MINUTE
    bucket = identity.bucket_of(1_765_000_000_000, window)
    day, keep = bounds.read_mark(bounds.mark(bucket, window, timeout, backfill))
    assert day == bounds.day_of(bucket, window) == bucket * window // DAY
    needed = identity.bucket_end_ms(bucket, window) + keep_after_bucket
    assert needed <= keep < needed + MINUTE  # kept in whole minutes


@pytest.mark.parametrize(
    "profile, ref",
    [
        ("user-1", "user-1"),
        ("u" * 64, "u" * 64),
        ("ü" * 32, "ü" * 32),  # 64 bytes
    ],
)
def test_a_profile_id_up_to_64_bytes_is_its_own_ref(profile, ref):
    assert keys.profile_ref(profile) == ref
    assert not keys.is_profile_digest(ref)


def test_a_longer_profile_id_is_kept_as_its_digest():
    ref = keys.profile_ref("u" * 256)
    assert keys.is_profile_digest(ref) and len(ref) == 41
    assert ref != keys.profile_ref("u" * 255) and keys.profile_ref(ref) == ref


@pytest.mark.parametrize("an_id", ["d" * 32, "ü" * 16, "d" * 33, "d" * 64, "u" * 65, "u" * 256, "user@example.com"])
def test_no_key_name_grows_with_an_id(an_id):
    ref = keys.key_ref(an_id)
    assert len(ref.encode()) <= keys.KEY_REF_BYTES
    assert (ref == an_id) is (len(an_id.encode()) <= keys.KEY_REF_BYTES)
    assert keys.key_ref(ref) == ref
    # A profile's pointer has one name, from its id or from what a session keeps of it.
    assert keys.live_profile("p", an_id) == keys.live_profile("p", keys.profile_ref(an_id)) == f"spool:live_profile:p:{ref}"
    assert keys.live_device("p", an_id) == keys.live_device("p", ref) == f"spool:live:p:{ref}"
