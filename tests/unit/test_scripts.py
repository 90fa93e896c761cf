"""Redis scripts are files (ARCHITECTURE habit 8): each `.lua` beside the module that owns it, with a
KEYS/ARGV header and an arity assert, declared once as a `Script` whose reply is read by name."""
import ast
import re
from pathlib import Path

import pytest
from redis.exceptions import ResponseError

from ingest.pipeline import admission, single
from sessions_app import assign
from storage.queue import holding
from storage.redis import client as redis

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("config", "contract", "storage", "projects", "sessions_app", "ingest")
SOURCES = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
SCRIPTS = [path for package in PACKAGES for path in (ROOT / package).rglob("*.lua")]
# Files of Lua functions that other scripts call (sent before them): their header names the function.
LIBRARIES = {admission.ADMIT_LUA, assign.PLACE_LUA}


def test_the_rules_see_the_scripts():
    assert len(SCRIPTS) >= 18 and LIBRARIES <= set(SCRIPTS)


def test_no_lua_source_is_left_in_a_python_module():
    inline = sorted(str(path.relative_to(ROOT)) for path in SOURCES if re.search(r"redis\.p?call\(", path.read_text()))
    assert inline == []


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_a_script_starts_with_its_header_and_asserts_its_arity(path):
    lines = path.read_text().splitlines()
    header = [line for line in lines if line.startswith("--")]
    code = [line for line in lines if line.strip() and not line.startswith(("--", "#!"))]
    assert lines[0].startswith(("--", "#!lua")) and len(header) >= 3
    if path in LIBRARIES:
        assert re.search(r"^-- \w+\(", "\n".join(header), re.M), "a library's header names its function"
        assert "assert(" in "\n".join(code)
        return
    assert re.search(r"KEYS", "\n".join(header)) and "Returns" in "\n".join(header)
    first = next(line for line in code if not re.fullmatch(r"local [A-Z_, ]+ = [\d, ]+", line))  # constants
    assert first.startswith("assert(#KEYS"), f"{path.name}: the arity assert comes first"


def _declared() -> set[Path]:
    """The files of every `redis.Script(__file__, "name", ...)` in the code."""
    found = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and "Script" in (getattr(node.func, "attr", ""), getattr(node.func, "id", "")):
                name = node.args[1]
                assert isinstance(name, ast.Constant), f"{path}: a script's name is written out"
                found.add(path.parent / "lua" / f"{name.value}.lua")
    return found


def test_every_script_is_declared_once_beside_its_owner():
    declared = _declared()
    assert declared | LIBRARIES == set(SCRIPTS)


def test_a_script_called_with_the_wrong_arity_says_its_name(db):
    with pytest.raises(ResponseError, match="release_lock"):
        redis.RELEASE_LOCK(["a", "b"], ["token"])


def test_replies_are_read_by_name(db):
    assert holding.TAKE_JOB(["spool:test:held", "spool:test:empty"], [1]) is None
    redis.client().rpush("spool:test:queue", "job-1")
    assert holding.TAKE_JOB(["spool:test:held", "spool:test:queue"], [1]) == holding.Taken("spool:test:queue", "job-1")
    raw = [0, 0, 1, 3, 1, 0, b"s", b"1", b"2", None, None, None, 9]
    reply = single.Reply.of(raw)
    assert (reply.verdict.lane, reply.pushed, reply.event_flag_set, reply.tokens) == (1, 3, True, 9)
    assert reply.states == [[b"s", b"1", b"2"], [None, None, None]]
