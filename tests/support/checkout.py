"""A copy of this checkout as a fresh clone has it (tracked and new files; no .local, database or
static files), for the tests that run the README's commands where they write into the checkout."""
import shutil
import subprocess
from pathlib import Path

from tests.support.live import ROOT


def copy_checkout(target: Path, with_venv: bool = False) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    if with_venv:  # the checkout's own environment, as `make` made it
        (target / ".venv").symlink_to((ROOT / ".venv").resolve())
    return target
