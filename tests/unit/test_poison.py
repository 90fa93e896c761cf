"""Which failures are an item's fault (it is set aside) and which say a service is away (retry)."""
import pytest
from clickhouse_driver import errors as clickhouse_errors
from django.db import DataError as DatabaseDataError
from django.db import OperationalError
from redis import exceptions as redis_errors

from contract import messages
from storage.queue import poison


@pytest.mark.parametrize(
    "error",
    [
        redis_errors.ConnectionError("Connection refused"),
        redis_errors.TimeoutError("Timeout reading from socket"),
        redis_errors.BusyLoadingError("Redis is loading the dataset in memory"),
        redis_errors.OutOfMemoryError("OOM command not allowed when used memory > 'maxmemory'."),
        redis_errors.ResponseError("Error running script (call to f_1): @user_script:12: OOM command not allowed when used memory > 'maxmemory'."),
        redis_errors.ReadOnlyError("READONLY You can't write against a read only replica."),
        redis_errors.ExecAbortError("EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'."),
        # As redis-py 8 raises them: the code parsed off the message into `status_code`
        # (tests/integration/test_full_redis.py takes them from a real Redis).
        redis_errors.OutOfMemoryError("command not allowed when used memory > 'maxmemory'.", status_code="OOM"),
        redis_errors.ReadOnlyError("You can't write against a read only replica.", status_code="READONLY"),
        redis_errors.ResponseError("NOREPLICAS Not enough good replicas to write."),
        clickhouse_errors.NetworkError("Code: 210. Connection refused (127.0.0.1:9000)"),
        clickhouse_errors.SocketTimeoutError("Code: 209. (127.0.0.1:9000)"),
        clickhouse_errors.ServerException("DB::Exception: Too many parts (300)", code=252),
        EOFError("Unexpected EOF while reading bytes"),
        OperationalError("database is locked"),
    ],
)
def test_a_service_that_is_away_or_busy_is_retried(error):
    assert poison.retriable(error)


@pytest.mark.parametrize(
    "error",
    [
        redis_errors.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        redis_errors.ResponseError("Error running script (call to f_1): @user_script:30: attempt to compare nil with number"),
        redis_errors.DataError("Invalid input of type: 'NoneType'."),
        clickhouse_errors.TypeMismatchError("Code: 53. Type mismatch in VALUES section."),
        AttributeError("'NoneType' object has no attribute 'encode'"),
        KeyError("ctx"),
        messages.UnknownFormat(2),
        DatabaseDataError("value too long for type character varying(64)"),
    ],
)
def test_an_item_that_cannot_be_processed_is_set_aside(error):
    assert not poison.retriable(error)


def test_an_entry_keeps_whatever_the_item_held():
    entry = poison.entry("events", {"n": 2**70, "text": "\ud800"}, ValueError("no"), "p")
    assert "1180591620717411303424" in entry["item"] and entry["error"] == "ValueError: no"
    assert poison.entry("profiles", b"\xff{", messages.UnknownFormat(3))["format"] == 3
