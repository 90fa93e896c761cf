"""Contract §9 (r3): `rotate_secret --grace SECONDS`. The old secret is still accepted for SECONDS, and
the answer to a request that sends it says so (header Spool-Old-Secret-Expires); without a grace every
secret but the new one is refused at once. The admin's action offers both, and the offline client
warns its operator. Issue 18 finding 10: a rotation refused the old secret at once, so every device in
the field failed until it was updated."""
import io
import json
import logging
import re
import time
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from spool_client import SpoolClient

from tests.support.events import track
from tests.support.live import LiveStack
from tests.support.waiting import eventually

pytestmark = pytest.mark.django_db
HEADER = "Spool-Old-Secret-Expires"


def rotate(project, *options: str) -> dict:
    out = io.StringIO()
    call_command("rotate_secret", "--project", str(project.client_id), *options, stdout=out)
    return json.loads(out.getvalue())


def expires(response) -> float:
    return datetime.strptime(response[HEADER], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def test_with_a_grace_the_old_secret_still_works_and_the_answer_says_until_when(api, client_for, project):
    printed = rotate(project, "--grace", "3600")
    single = api.post("/track", track("old"), format="json")
    batch = api.post("/track/batch", {"events": [track("old")]}, format="json")
    assert single.status_code == 200 and batch.status_code == 202 and batch.json()["accepted"] == 1
    for answer in (single, batch):
        assert abs(expires(answer) - (time.time() + 3600)) < 10
    assert printed["old_secret_until"] == single[HEADER]
    fresh = client_for(HTTP_OPENPANEL_CLIENT_SECRET=printed["client_secret"]).post("/track", track("n"), format="json")
    assert fresh.status_code == 200 and HEADER not in fresh
    wrong = client_for(HTTP_OPENPANEL_CLIENT_SECRET="sec_" + "x" * 43).post("/track", track("w"), format="json")
    assert wrong.status_code == 401


def test_the_old_secret_is_refused_once_the_grace_is_over(api, project):
    rotate(project, "--grace", "1")
    assert api.post("/track", track("old"), format="json").status_code == 200
    eventually(lambda: api.post("/track", track("old"), format="json").status_code == 401, 10, every=0.2,
               what="the grace's end")  # fmt: skip


def test_without_a_grace_every_secret_but_the_new_one_is_refused_at_once(api, client_for, project):
    middle = rotate(project, "--grace", "3600")["client_secret"]
    newest = rotate(project)
    assert "old_secret_until" not in newest
    assert api.post("/track", track("first"), format="json").status_code == 401  # a leaked secret ends a grace too
    assert client_for(HTTP_OPENPANEL_CLIENT_SECRET=middle).post("/track", track("m"), format="json").status_code == 401
    ok = client_for(HTTP_OPENPANEL_CLIENT_SECRET=newest["client_secret"]).post("/track", track("n"), format="json")
    assert ok.status_code == 200 and HEADER not in ok


def test_a_grace_out_of_range_is_one_line(project):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="the grace is 0 to 7776000 seconds"):
        rotate(project, "--grace", "-5")


def _rotate_in_admin(admin_client, project, grace: str) -> str:
    action = {"action": "rotate_secret", "_selected_action": [project.pk]}
    answer = admin_client.post("/admin/projects/project/", {**action, "confirm": "yes", "grace": grace})
    return re.search(r'class="spool-client-secret">([^<]+)<', answer.content.decode()).group(1)


def test_the_admin_action_offers_a_grace_or_at_once(admin_client, api, client_for, project):
    confirm = admin_client.post("/admin/projects/project/", {"action": "rotate_secret", "_selected_action": [project.pk]})
    page = confirm.content.decode()
    assert 'name="grace" value="0"' in page and 'name="grace" value="86400"' in page

    second = _rotate_in_admin(admin_client, project, "86400")
    kept = api.post("/track", track("old"), format="json")
    assert kept.status_code == 200 and abs(expires(kept) - (time.time() + 86400)) < 10

    third = _rotate_in_admin(admin_client, project, "0")
    assert api.post("/track", track("old"), format="json").status_code == 401
    assert client_for(HTTP_OPENPANEL_CLIENT_SECRET=second).post("/track", track("s"), format="json").status_code == 401
    assert client_for(HTTP_OPENPANEL_CLIENT_SECRET=third).post("/track", track("t"), format="json").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_offline_client_warns_while_its_secret_is_in_a_grace(tmp_path, caplog):
    stack = LiveStack(tmp_path).start(workers=0, web_workers=1)
    try:
        credentials = stack.create_project("--name", "Field devices")
        stack.manage("rotate_secret", "--project", credentials["client_id"], "--grace", "3600")
        client = SpoolClient(stack.url, credentials["client_id"], credentials["client_secret"],
                             path=str(tmp_path / "buffer.db"))  # fmt: skip
        caplog.set_level(logging.WARNING, logger="spool_client")

        def warned() -> bool:  # the web process may hold the project for PROJECT_CACHE_SECONDS
            client.track("drained")
            return client.flush().old_secret_expires is not None

        eventually(warned, 20, every=0.5, what="an answer that names the grace")
        result = (client.track("again"), client.flush())[1]
        assert result.accepted == 1 and result.error is None  # still delivered, and kept delivering
        assert abs(datetime.fromisoformat(result.old_secret_expires).timestamp() - (time.time() + 3600)) < 30
        warnings = [r.getMessage() for r in caplog.records if "secret was rotated" in r.getMessage()]
        assert len(warnings) == 1 and result.old_secret_expires in warnings[0]  # once, not once per batch
        client.close()
    finally:
        stack.stop()
