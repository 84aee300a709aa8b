"""A throwaway PostgreSQL cluster for the tests and for ``.ci/run``.

``start_cluster`` runs ``initdb`` in a folder of its own, then ``pg_ctl
start`` on a free loopback port, with trust authentication for the user
``fiscus`` and no durability (``fsync=off``): its data lives for one test
session. PostgreSQL refuses to run as root, so as root every command runs
as the ``postgres`` user (``nobody`` where there is none) through
``runuser``, and the folder is handed to that user.

``fresh_database`` creates a database of its own for one test, so tests
never see each other's runs; ``drop_database`` removes it.

From the shell (``.ci/run`` does this)::

    python tests/postgres_server.py find           # prints initdb's folder
    python tests/postgres_server.py start FOLDER   # prints the server's URL
    python tests/postgres_server.py stop FOLDER

Imports no fiscus_dsl; ``fresh_database`` imports psycopg when called.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

ENVIRONMENT_VARIABLE: Final = "FISCUS_TEST_POSTGRES"
"""A server URL the tests use instead of starting a cluster of their own."""

USER: Final = "fiscus"
"""The superuser of a cluster started here (trust authentication)."""

SKIP_REASON: Final = (
    "no PostgreSQL server: install PostgreSQL (Debian's postgresql package "
    f"gives initdb and pg_ctl), or set {ENVIRONMENT_VARIABLE} to a server URL "
    "such as postgresql://user@127.0.0.1:5432/postgres whose user may create "
    "databases"
)

# After /usr/lib/postgresql/VERSION/bin (Debian's), newest first.
_SEARCH: Final = (
    "/usr/local/pgsql/bin",
    "/usr/local/bin",
    "/usr/bin",
)
_SETTINGS: Final = (
    "-c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200"
)


@dataclass(frozen=True, slots=True)
class Cluster:
    """A running cluster: its folder, its port, and the tools that run it."""

    folder: Path
    port: int
    bin_dir: Path
    run_as: str | None

    @property
    def url(self) -> str:
        """Return the URL of its ``postgres`` database, as the superuser."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        _run(
            self.run_as,
            self.folder,
            self.bin_dir / "pg_ctl",
            *("-D", self.folder / "data", "-m", "immediate", "-w", "stop"),
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def _version(bin_dir: str) -> tuple[int, ...]:
    """Return the version a ``/usr/lib/postgresql/VERSION/bin`` folder names."""
    name = Path(bin_dir).parent.name
    return tuple(map(int, name.split("."))) if name.replace(".", "").isdigit() else ()


def find_bin_dir() -> Path | None:
    """Return the folder holding ``initdb`` and ``pg_ctl``, newest version first."""
    versions = sorted(
        map(str, Path("/usr/lib/postgresql").glob("*/bin")), key=_version, reverse=True
    )
    on_path = shutil.which("initdb")
    candidates = [*versions, *_SEARCH]
    if on_path is not None:
        candidates.append(str(Path(on_path).parent))
    for folder in map(Path, candidates):
        if all(os.access(folder / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return folder
    return None


def _run_as() -> str | None:
    """Return the user to run the server as, or ``None`` when not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    msg = "running as root, and there is no postgres nor nobody user to run initdb"
    raise RuntimeError(msg)


def _hand_over(folder: Path, run_as: str) -> None:
    """Give ``folder`` to the server's user, who must reach it from ``/``."""
    entry = pwd.getpwnam(run_as)
    os.chown(folder, entry.pw_uid, entry.pw_gid)
    for parent in folder.resolve().parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            msg = (
                f"PostgreSQL runs as {run_as!r}, who cannot reach {folder}: "
                f"{parent} is not searchable by others; chmod o+x {parent}, or "
                "start the cluster in another folder"
            )
            raise RuntimeError(msg)


def _run(run_as: str | None, folder: Path, *arguments: str | Path) -> None:
    """Run a server tool (as ``run_as`` when root); raise with its output on failure."""
    command = [str(argument) for argument in arguments]
    if run_as is not None:
        command = ["runuser", "-u", run_as, "--", *command]
    # The folder as working directory: the server's user may not read root's.
    done = subprocess.run(
        command, cwd=folder, capture_output=True, text=True, check=False, timeout=120
    )
    if done.returncode != 0:
        msg = (
            f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
        raise RuntimeError(msg)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_cluster(folder: Path, bin_dir: Path) -> Cluster:
    """Create a cluster in ``folder`` (made if missing) and start it.

    Raises:
        RuntimeError: ``initdb`` or ``pg_ctl`` failed; the message holds
            their output and the server's log.
    """
    folder.mkdir(parents=True, exist_ok=True)
    run_as = _run_as()
    if run_as is not None:
        _hand_over(folder, run_as)
    data = folder / "data"
    _run(
        run_as,
        folder,
        bin_dir / "initdb",
        *("-D", data, "-U", USER, "--auth=trust", "--encoding=UTF8", "--no-sync"),
    )
    # A port found free may be taken before the server binds it: try again.
    for attempt in range(3):
        port = _free_port()
        try:
            _run(
                run_as,
                folder,
                bin_dir / "pg_ctl",
                *("-D", data, "-l", folder / "log", "-w", "-t", "60"),
                *("-o", f"-p {port} {_SETTINGS}", "start"),
            )
        except RuntimeError as exc:
            if attempt == 2:
                log = (folder / "log").read_text(errors="replace")
                msg = f"{exc}\nserver log:\n{log}"
                raise RuntimeError(msg) from exc
            continue
        return Cluster(folder=folder, port=port, bin_dir=bin_dir, run_as=run_as)
    raise AssertionError  # pragma: no cover  (the loop returns or raises)


def stop_cluster(folder: Path) -> None:
    """Stop the cluster ``start_cluster`` started in ``folder``, if any."""
    bin_dir = find_bin_dir()
    if bin_dir is None or not (folder / "data" / "postmaster.pid").exists():
        shutil.rmtree(folder, ignore_errors=True)
        return
    Cluster(folder=folder, port=0, bin_dir=bin_dir, run_as=_run_as()).stop()


def database_url(server_url: str, name: str) -> str:
    """Return ``server_url`` with its database replaced by ``name``."""
    return urlsplit(server_url)._replace(path=f"/{name}").geturl()


def fresh_database(server_url: str) -> str:
    """Create an empty database on the server and return its URL."""
    import psycopg  # only the PostgreSQL tests need it

    name = f"fiscus_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return database_url(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    """Drop a database ``fresh_database`` made, closing its connections."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main(arguments: list[str]) -> int:
    """Do what the module docstring's shell lines say; return the exit status."""
    action = arguments[0] if arguments else ""
    if (action, len(arguments)) not in {("find", 1), ("start", 2), ("stop", 2)}:
        sys.stderr.write(
            "usage: postgres_server.py find | start FOLDER | stop FOLDER\n"
        )
        return 2
    if action == "stop":
        stop_cluster(Path(arguments[1]))
        return 0
    bin_dir = find_bin_dir()
    if bin_dir is None:
        sys.stderr.write(SKIP_REASON + "\n")
        return 1
    if action == "find":
        sys.stdout.write(f"{bin_dir}\n")
        return 0
    sys.stdout.write(start_cluster(Path(arguments[1]), bin_dir).url + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
