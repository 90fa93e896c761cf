"""`eventually()`: the one way the tests wait for something another process does."""
import time


def eventually(check, timeout: float = 30, every: float = 0.25, what: str = "", ignoring: tuple = ()):
    """Call `check()` until it returns something truthy, and return that. At the deadline, fail with
    the last value seen. Exceptions of the `ignoring` kinds count as "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except ignoring as error:
            value = error
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout} s for {what or 'a condition'}; last seen: {value!r}")
        time.sleep(every)
