"""Run a function in several forked processes at once, as several workers or schedulers would."""
import multiprocessing
import time


def run_at_once(target, count: int, timeout: float, args: tuple = ()) -> None:
    """Start `count` forked children on `target(*args)` and wait for them all to exit 0. A child still
    running after `timeout` is killed and fails the test; it is never left behind, where the
    interpreter's exit would wait for it forever."""
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=target, args=args, daemon=True) for _ in range(count)]
    for child in children:
        child.start()
    deadline = time.monotonic() + timeout
    try:
        for child in children:
            child.join(max(0.0, deadline - time.monotonic()))
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
                child.join()
    assert [child.exitcode for child in children] == [0] * count
