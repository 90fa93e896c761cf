"""Contract §8 (r3): every README command works typed in a fresh shell with nothing set. A copy of
the checkout runs manage.py with an empty environment (PATH alone, as `env -i PATH=...` does): the
development key is made once under `.local/` and kept; production mode still refuses to start
without DJANGO_SECRET_KEY; a wrong setting is one line."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.checkout import copy_checkout


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    return copy_checkout(tmp_path_factory.mktemp("clone"))


def fresh_shell(clone: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`env -i PATH=... python manage.py ARGS` in the copy: no other variable at all."""
    return subprocess.run(
        ["env", "-i", f"PATH={os.environ['PATH']}", *(f"{k}={v}" for k, v in env.items()), sys.executable,
         "manage.py", *args],
        cwd=clone, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_create_project_and_check_work_in_an_empty_environment(clone):
    assert fresh_shell(clone, "migrate", "--noinput", "-v0").returncode == 0
    created = fresh_shell(clone, "create_project", "--name", "My app")
    assert created.returncode == 0, created.stderr
    credentials = json.loads(created.stdout)
    assert credentials["client_id"] and len(credentials["client_secret"]) >= 32
    checked = fresh_shell(clone, "check")
    assert checked.returncode == 0, checked.stderr
    assert "no issues" in checked.stdout


def test_the_development_key_is_made_once_and_kept_private(clone):
    show = ("shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)")
    first, second = fresh_shell(clone, *show), fresh_shell(clone, *show)
    kept = clone / ".local" / "secret-key"
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[-1] == second.stdout.split()[-1] == kept.read_text().strip()
    assert len(kept.read_text().strip()) >= 50
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_production_mode_refuses_to_start_without_a_key_in_one_line(clone):
    result = fresh_shell(clone, "check", SPOOL_MODE="production")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "spool: DJANGO_SECRET_KEY is required in production mode (SPOOL_MODE=production): 50 or more random characters"
    ]


def test_a_wrong_setting_is_one_line_not_a_traceback(clone):
    for command in (("check",), ("create_project", "--name", "Other")):
        result = fresh_shell(clone, *command, SESSION_TIMEOUT_SECONDS="30m")
        assert result.returncode != 0
        assert result.stderr.strip().splitlines() == [
            "spool: SESSION_TIMEOUT_SECONDS='30m': expected a whole number from 1 to 604800"
        ], result.stderr
