import base64
import hashlib

from sessions_app import identity

WINDOW = 1_800_000


def test_device_id_is_the_spec_formula():
    expected = hashlib.shake_256(b"Mozilla/5.0:81.2.69.142:proj:salt1").hexdigest(16)
    assert identity.device_id("Mozilla/5.0", "81.2.69.142", "proj", "salt1") == expected
    assert len(expected) == 32


def test_missing_user_agent_hashes_as_unknown():
    assert identity.device_id("", "", "p", "s") == hashlib.shake_256(b"unknown/1.0::p:s").hexdigest(16)


def test_session_id_is_the_spec_formula():
    digest = hashlib.sha256(b"sess:v1:proj:dev:42").digest()[:16]
    assert identity.session_id_for("proj", "dev", 42) == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_bucket_grace():
    start = 1000 * WINDOW
    assert identity.bucket_of(start + 4_999, WINDOW) == 999
    assert identity.bucket_of(start + 5_000, WINDOW) == 1000
    assert identity.bucket_of(start + WINDOW - 1, WINDOW) == 1000
    assert identity.bucket_end_ms(1000, WINDOW) == start + WINDOW + 4_999


def test_client_session_id_is_the_spec_formula():
    digest = hashlib.sha256(b"sess:client:proj:dev:visit 1").digest()[:16]
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert identity.client_session_id_for("proj", "dev", "visit 1") == expected
    assert identity.client_session_id_for("proj", "other", "visit 1") != expected
