"""Types at the edges (ARCHITECTURE habit 10): mypy runs over every first-party package with the Django and
DRF plugins and `disallow_untyped_defs`; the modules still allowed untyped definitions are a list in
pyproject.toml that may only shrink."""
import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MYPY = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
PACKAGES = {"config", "contract", "storage", "projects", "sessions_app", "ingest", "clients/python/spool_client"}
# The list as it was when disallow_untyped_defs came on. Take a module off both once it is annotated;
# never add one.
BASELINE = frozenset({
    "spool_client.answers",
    "spool_client.lock",
    "spool_client.transport",
    "config.web_worker",
    "ingest.api.middleware",
    "ingest.api.views",
    "ingest.api.wire",
    "ingest.explorer.filters",
    "ingest.explorer.health",
    "ingest.explorer.views",
    "ingest.pipeline.accept",
    "ingest.pipeline.decode",
    "ingest.pipeline.prepare",
    "ingest.pipeline.serializers",
    "ingest.pipeline.single",
    "ingest.worker.spool_worker",
    "ingest.worker.write",
    "projects.access",
    "projects.admin",
    "projects.management.commands._project",
    "projects.management.commands.create_project",
    "projects.management.commands.demo_project",
    "projects.management.commands.list_projects",
    "projects.management.commands.rotate_salts",
    "projects.management.commands.rotate_secret",
    "projects.management.commands.update_project",
    "sessions_app.live",
})  # fmt: skip


def _exceptions() -> set[str]:
    found = set()
    for override in MYPY.get("overrides", []):
        if override.get("disallow_untyped_defs") is False:
            found |= set(override["module"])
    return found


def _path(module: str) -> Path:
    parts = module.split(".")
    base = ROOT / "clients" / "python" if parts[0] == "spool_client" else ROOT
    return base.joinpath(*parts).with_suffix(".py")


def _untyped(path: Path) -> list[str]:
    """Definitions that mypy's disallow_untyped_defs would refuse (a parameter or the return unannotated)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs, node.args.vararg, node.args.kwarg]
        args = [arg for arg in args if arg is not None and arg.arg not in ("self", "cls")]
        annotated_init = node.name == "__init__" and args and all(arg.annotation for arg in args)
        if any(arg.annotation is None for arg in args) or (node.returns is None and not annotated_init):
            found.append(node.name)
    return found


def test_mypy_checks_every_first_party_package_strictly_with_the_django_and_drf_plugins():
    assert set(MYPY["files"]) >= PACKAGES
    assert {"mypy_django_plugin.main", "mypy_drf_plugin.main"} <= set(MYPY["plugins"])
    assert MYPY["disallow_untyped_defs"] is True and MYPY["check_untyped_defs"] is True


def test_the_untyped_exceptions_only_shrink():
    assert _exceptions() <= BASELINE, "annotate the new code instead of listing its module"


def test_every_listed_module_still_has_untyped_definitions():
    done = sorted(module for module in _exceptions() if not _untyped(_path(module)))
    assert done == [], "annotated: take these off the list in pyproject.toml and BASELINE"


def test_the_untyped_check_sees_a_missing_annotation():
    assert _untyped(ROOT / "config" / "web_worker.py")
    assert not _untyped(ROOT / "storage" / "queue" / "queues.py")
