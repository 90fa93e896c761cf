"""Schemathesis hooks (SCHEMATHESIS_HOOKS) for the fuzzer run of tests/integration/test_openapi.py:
an NDJSON body (the batch endpoint's second media type, with an example) is sent as the text it is;
a value that is not text (the fuzzer's "wrong type" case) is sent as no body, which is refused (400)."""
import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else None
