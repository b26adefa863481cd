"""A private PostgreSQL cluster for outage tests: started by the test on its own port.

Outage tests stop and start the database under a running bot. They never do that to the
shared server (other tests, and other sessions' CI, use it): each test gets its own cluster,
copied from a template made once per session with `initdb`, listening on 127.0.0.1 on a
free port, with its socket in its own directory. `stop()` is a real server shutdown
(`pg_ctl stop -m immediate`, as if the host died: no checkpoint, clients cut off), `start()`
brings it back on the same port with the same data.

PostgreSQL refuses to run as root, so under root the server runs as the `postgres` user
(`runuser`). The binaries come from `pg_config --bindir` or Debian's /usr/lib/postgresql.
Like the other PostgreSQL tests, a machine without them skips with the reason printed, and
fails instead when OMSBOT_TEST_POSTGRES_URL is set (CI, where PostgreSQL is required).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import free_port
from tests.store_fixtures import POSTGRES_ENV

_template: Path | None = None
_INITDB_OPTIONS = ("-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C")


def _bindir() -> Path | None:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (Path(out) / "initdb").exists():
            return Path(out)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return found[0].parent if found else None


def _unavailable(reason: str) -> None:
    if os.environ.get(POSTGRES_ENV):
        pytest.fail(f"a private PostgreSQL cluster is required here: {reason}")
    pytest.skip(f"private PostgreSQL cluster unavailable: {reason}")


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _own(path: Path) -> None:
    """Give the server user the directory (only needed when the tests run as root)."""
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
        for item in path.rglob("*"):
            shutil.chown(item, "postgres", "postgres")


def _template_dir(bindir: Path) -> Path:
    """One initdb per test session; each cluster is a copy of it."""
    global _template
    if _template is None:
        root = Path(tempfile.mkdtemp(prefix="omsbot-pgtemplate-"))
        atexit.register(shutil.rmtree, root, True)
        root.chmod(0o755)
        data = root / "data"
        data.mkdir(mode=0o700)
        _own(data)
        done = subprocess.run(
            _as_server_user([str(bindir / "initdb"), "-D", str(data), *_INITDB_OPTIONS]),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            _unavailable(f"initdb failed: {done.stderr.strip()[-300:]}")
        _template = data
    return _template


class PrivateCluster:
    """A PostgreSQL server of this test only; `url` reaches its `postgres` database."""

    def __init__(self, bindir: Path, template: Path) -> None:
        self._bin = bindir
        self.root = Path(tempfile.mkdtemp(prefix="omsbot-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        shutil.copytree(template, self.data)
        self.data.chmod(0o700)
        self.sockets = self.root / "sock"
        self.sockets.mkdir()
        self.log = self.root / "server.log"
        self.log.touch()
        _own(self.root)
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            _as_server_user([str(self._bin / "pg_ctl"), "-D", str(self.data), *args]),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
            # fsync off only risks data on an OS crash; a killed server keeps every commit.
            " -c fsync=off"
        )
        done = self._ctl("start", "-w", "-t", "30", "-l", str(self.log), "-o", options)
        if done.returncode != 0:
            raise RuntimeError(
                f"private PostgreSQL did not start: {done.stderr.strip()}\n"
                + self.log.read_text()[-2000:]
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        ready = self._bin / "pg_isready"
        deadline = time.monotonic() + 30
        while True:
            probe = subprocess.run(
                [str(ready), "-h", "127.0.0.1", "-p", str(self.port), "-q"], check=False
            )
            if probe.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("private PostgreSQL does not accept connections")
            time.sleep(0.1)

    def stop(self) -> None:
        """Take the server down as a crash would: open connections break, new ones fail."""
        self._ctl("stop", "-m", "immediate", "-w")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def private_cluster() -> PrivateCluster:
    """A started private cluster (remove() it when done; the fixture below does)."""
    bindir = _bindir()
    if bindir is None:
        _unavailable("no PostgreSQL server binaries (initdb) on this machine")
        raise AssertionError("unreachable")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        _unavailable("running as root without runuser to start the server as postgres")
    cluster = PrivateCluster(bindir, _template_dir(bindir))
    cluster.start()
    return cluster


@pytest.fixture
def pg_cluster() -> Iterator[PrivateCluster]:
    """A private PostgreSQL server on its own port, which the test may stop and start."""
    cluster = private_cluster()
    try:
        yield cluster
    finally:
        cluster.remove()
