"""Issue 17, finding 10: the Redis of `make run` keeps what it holds across a restart. It was started
with `--save "" --appendonly no`, so a restart lost every acknowledged event not yet stored and the
known-profile set. Here Redis is started by scripts/services.sh itself (on a port of its own), killed
with SIGKILL while events wait for a worker, and started again the same way."""
import pytest
import redis as redis_py
import requests

from tests.support import stored
from tests.support.agents import IPHONE_UA
from tests.support.events import at, now_ms, track
from tests.support.live import LiveStack
from tests.support.servers import PrivateRedis
from tests.support.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)


def test_acknowledged_events_and_known_profiles_survive_a_sigkill_of_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis").start_as_make_run()
    stack = LiveStack(tmp_path, redis_url=server.url(0))
    try:
        stack.start(workers=0, web_workers=1)  # no worker: everything waits in Redis
        project = stack.create_project("--name", "Kept")
        headers = {"openpanel-client-id": project["client_id"], "openpanel-client-secret": project["client_secret"],
                   "user-agent": IPHONE_UA}  # fmt: skip
        base = now_ms() - 60_000
        batch = {"events": [at("kept-batch", base + i, device=f"d{i}", i=i) for i in range(3)]}
        assert requests.post(f"{stack.url}/track/batch", json=batch, headers=headers, timeout=10).json()["accepted"] == 3
        assert requests.post(f"{stack.url}/track", json=track("kept-single"), headers=headers, timeout=10).ok
        identify = {"type": "identify", "payload": {"profileId": "alice", "properties": {"plan": "pro"}}}
        assert requests.post(f"{stack.url}/track", json=identify, headers=headers, timeout=10).ok

        server.stop()  # SIGKILL: no save, no goodbye
        server.start_as_make_run()
        eventually(lambda: redis_py.Redis.from_url(server.url(0)).ping(), 30, every=0.1, what="Redis loaded again",
                   ignoring=(redis_py.ConnectionError, redis_py.BusyLoadingError))  # fmt: skip

        # The known-profile set is still there: an increment of alice is not "unknown profile".
        increment = {"type": "increment", "payload": {"profileId": "alice", "property": "logins", "value": 1}}

        def increment_answer() -> int | None:
            status = requests.post(f"{stack.url}/track", json=increment, headers=headers, timeout=10).status_code
            return None if status == 503 else status  # the web process reconnecting to Redis

        assert eventually(increment_answer, 30, every=0.2, what="an answer to the increment") == 200

        stack.start_worker()
        pid = project["project_id"]
        eventually(lambda: stored.count(pid, "name IN ('kept-batch', 'kept-single')") == 4, 60, every=0.5,
                   what="the events acknowledged before the restart, stored")  # fmt: skip
        profile = eventually(lambda: (found := stored.profile(pid, "alice")) and found["properties"].get("logins")
                             and found, 60, every=0.5, what="alice's profile with the increment")  # fmt: skip
        assert profile["properties"]["plan"] == "pro" and profile["properties"]["logins"] == "1"
    finally:
        stack.stop()
        server.remove()


def test_compose_reads_the_same_persistence_options():
    import yaml

    from tests.support.live import ROOT

    redis_service = yaml.safe_load((ROOT / "docker" / "compose.yml").read_text())["services"]["redis"]
    mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in redis_service["volumes"]}
    config_file = redis_service["command"][1]  # redis-server reads a config file only as its first argument
    assert redis_service["command"][0] == "redis-server"
    assert (ROOT / "docker" / mounted[config_file]).resolve() == ROOT / "config" / "redis.conf"
    options = (ROOT / "config" / "redis.conf").read_text().split("\n")
    assert "appendonly yes" in options and "appendfsync everysec" in options
    assert "--appendonly" not in redis_service["command"]  # nothing on the command line overrides the file
