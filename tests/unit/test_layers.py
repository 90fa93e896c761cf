"""The layout's rules, read from the code's imports (parsed, not run): dependencies point one way.

Packages: contract (pure data) at the bottom; storage above it and below every app; projects and
sessions_app above storage; ingest on top. Inside ingest: the HTTP edge (api) → the pipeline → storage;
the worker → sessions_app → storage. Pure modules (contract, ingest.enrich) import nothing with I/O.
"""
import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("config", "contract", "storage", "projects", "sessions_app", "ingest")


def _modules() -> dict[str, Path]:
    found = {}
    for package in FIRST_PARTY:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """First-party modules that `name` imports (at any depth of its code)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _edges(level) -> dict[str, set[str]]:
    """Imports between groups of modules, `level(module)` naming each module's group."""
    edges = defaultdict(set)
    for name, targets in IMPORTS.items():
        for target in targets:
            if level(name) != level(target):
                edges[level(name)].add(level(target))
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str]:
    """One cycle of the graph, or []."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for after in sorted(edges.get(node, ())):
            if state.get(after) == 1:
                return path[path.index(after) :] + [after]
            if after not in state and (found := visit(after)):
                return found
        state[node] = 2
        path.pop()
        return []

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return []


def _package(module: str) -> str:
    return module.split(".")[0]


def _part(module: str) -> str:
    """ingest.api.views → ingest.api; ingest.urls → ingest.urls; contract.tables → storage."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "ingest" else parts[0]


def test_the_rules_see_the_code():
    assert len(MODULES) > 60
    assert "storage.redis.client" in IMPORTS["sessions_app.live"]
    assert "ingest.pipeline.accept" in IMPORTS["ingest.api.views"]


def test_no_cycle_between_first_party_packages():
    assert _cycle(_edges(_package)) == []


def test_no_cycle_between_the_parts_of_ingest():
    assert _cycle(_edges(_part)) == []


@pytest.mark.parametrize(
    "lower, higher",
    [
        ("contract", ("storage", "ingest", "sessions_app", "projects", "config")),
        ("storage", ("ingest", "sessions_app", "projects", "config")),
        ("sessions_app", ("ingest",)),
        ("projects", ("ingest", "sessions_app")),
        ("ingest.enrich", ("storage", "ingest.api", "ingest.pipeline", "ingest.worker", "ingest.replay", "ingest.profiles")),
        ("ingest.pipeline", ("ingest.api", "ingest.worker", "ingest.replay")),
        ("ingest.profiles", ("ingest.api", "ingest.pipeline", "ingest.worker")),
        ("ingest.worker", ("ingest.api", "ingest.pipeline", "ingest.replay")),
        ("ingest.replay", ("ingest.api", "ingest.worker")),
    ],
)
def test_dependencies_point_one_way(lower, higher):
    """A lower layer never imports a higher one."""
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in IMPORTS.items()
        if name == lower or name.startswith(lower + ".")
        for target in targets
        if any(target == up or target.startswith(up + ".") for up in higher)
    )
    assert wrong == []


def test_clickhouse_is_reached_only_through_storage():
    """`storage/clickhouse/client.py` is the only module that talks to ClickHouse."""
    users = sorted(
        name for name, path in MODULES.items() if "clickhouse_driver" in path.read_text() and name != "storage.clickhouse.client"
    )
    assert users == []
