"""A private PostgreSQL cluster on a free port (initdb + pg_ctl), for tests that stop the database."""
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.live import free_port


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL server binaries are not installed (apt-get install postgresql)")
    return found[-1].parent


class PrivatePostgres:
    def __init__(self):
        # Not under pytest's tmp folders: those are private to root, and PostgreSQL refuses to run as root.
        self.workdir = Path(tempfile.mkdtemp(prefix="spool-pg-"))
        self.data = self.workdir / "data"
        self.port = free_port()
        self.bin = _bin_dir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.workdir, "postgres", "postgres")

    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.as_root:
            command = ["su", "postgres", "-c", shlex.join(command)]
        subprocess.run(command, check=True, capture_output=True, cwd=self.workdir)

    def start(self) -> "PrivatePostgres":
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.workdir}"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.workdir / "log.txt"), "-o", options, "-w", "start")
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
