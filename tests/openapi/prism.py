"""Stoplight Prism as a contract mock: start it on loopback for one OpenAPI document.

``start_prism`` runs ``prism mock`` (the executable that ``FISCUS_PRISM``
names) as a subprocess on a free 127.0.0.1 port, its log in a file, and
returns once the port accepts connections. Prism validates every request
against the document: a request that breaks the contract gets the
operation's 422, else its 400, else its ``default`` response as a 422, else
a generated ``application/problem+json`` 422; a request without the
credentials its security requirement names gets the document's 401 (a
generated one with ``WWW-Authenticate`` when the document has none). Either
way the ``sl-violations`` header lists what was wrong, and ``violations``
reads it. ``PrismServers`` keeps one server per document for a test session.
Only the standard library: the tests reach Prism with any HTTP client.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

if TYPE_CHECKING:
    from collections.abc import Mapping

ENV: Final = "FISCUS_PRISM"
SPECS: Final = Path(__file__).resolve().parent / "specs"
HOST: Final = "127.0.0.1"
STARTUP_TIMEOUT: Final = 60.0
STOP_TIMEOUT: Final = 10.0
VIOLATIONS_HEADER: Final = "sl-violations"
_POLL: Final = 0.1
_INSTALL: Final = (
    "install it with `npm install --prefix DIR @stoplight/prism-cli@5` and set "
    f"{ENV}=DIR/node_modules/.bin/prism"
)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Prism:
    """A running ``prism mock``: its process, URL, document and log."""

    process: subprocess.Popen[bytes]
    base_url: str
    document: Path
    log: Path
    startup_seconds: float

    def stop(self) -> None:
        """Stop the server (SIGTERM to its process group), then kill it if it hangs."""
        if self.process.poll() is not None:
            return
        _signal_group(self.process, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _signal_group(self.process, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of Prism's log, to show in a failing assertion."""
        return _tail(self.log, lines)


@final
@dataclass(slots=True, kw_only=True)
class PrismServers:
    """One ``prism mock`` per document, started when first asked for."""

    executable: Path
    log_dir: Path
    servers: dict[Path, Prism] = field(default_factory=dict)

    def get(self, document: str | Path) -> Prism:
        """Return the server of ``document`` (a file name in ``SPECS``, or a path)."""
        path = resolve_document(document)
        if path not in self.servers:
            self.servers[path] = start_prism(self.executable, path, self.log_dir)
        return self.servers[path]

    def stop_all(self) -> None:
        """Stop every server started so far."""
        while self.servers:
            _, server = self.servers.popitem()
            server.stop()


def prism_executable(setting: str) -> Path:
    """Return the ``prism`` executable that ``FISCUS_PRISM`` names.

    The setting is a path, or a command name found on ``PATH``.
    """
    found = shutil.which(str(Path(setting).expanduser()))
    if found is None:
        msg = f"{ENV}={setting!r} is not an executable prism; {_INSTALL}"
        raise FileNotFoundError(msg)
    return Path(found).absolute()  # Prism runs in the document's folder


def resolve_document(document: str | Path) -> Path:
    """Return the absolute path of a document: a file name in ``SPECS``, or a path."""
    path = Path(document)
    if not path.is_absolute() and path.parent == Path():
        path = SPECS / path
    path = path.resolve()
    if not path.is_file():
        names = sorted(p.name for p in SPECS.iterdir() if p.suffix != ".md")
        msg = f"No OpenAPI document at {str(path)!r}; the documents in specs/: {names}"
        raise FileNotFoundError(msg)
    return path


def free_port() -> int:
    """Return a TCP port free on the loopback address right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def start_prism(executable: Path, document: Path, log_dir: Path) -> Prism:
    """Start ``prism mock`` for ``document`` on a free loopback port.

    Returns once the port accepts connections (Prism listens only once it
    has read the document).

    Raises:
        RuntimeError: Prism exited first; the message holds its log.
        TimeoutError: the port was not open within ``STARTUP_TIMEOUT``.
    """
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"prism-{document.stem}-{port}.log"
    command = [str(executable), "mock", document.name, "--host", HOST]
    command += ["--port", str(port)]
    started = time.monotonic()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=document.parent,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            # Its own group: a wrapper script (npx, a shell shim) and the
            # node process under it stop together.
            start_new_session=True,
        )
    prism = Prism(
        process=process,
        base_url=f"http://{HOST}:{port}",
        document=document,
        log=log,
        startup_seconds=0.0,
    )
    try:
        _wait_listening(prism, port)
    except BaseException:
        prism.stop()
        raise
    return replace(prism, startup_seconds=time.monotonic() - started)


def violations(headers: Mapping[str, str]) -> list[dict[str, Any]]:
    """Return the violations Prism lists in a response's ``sl-violations`` header.

    An empty list when the header is absent: the request met the contract.
    """
    raw = headers.get(VIOLATIONS_HEADER)
    if raw is None:
        return []
    found: list[dict[str, Any]] = json.loads(raw)
    return found


def _wait_listening(prism: Prism, port: int) -> None:
    until = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < until:
        if prism.process.poll() is not None:
            msg = (
                f"prism mock {prism.document.name} exited with "
                f"{prism.process.returncode} before it listened on port {port}; "
                f"its output:\n{prism.log_tail()}"
            )
            raise RuntimeError(msg)
        try:
            with socket.create_connection((HOST, port), timeout=1.0):
                return
        except OSError:
            time.sleep(_POLL)
    msg = (
        f"prism mock {prism.document.name} did not listen on port {port} within "
        f"{STARTUP_TIMEOUT:.0f} s; its output:\n{prism.log_tail()}"
    )
    raise TimeoutError(msg)


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:  # it exited between poll() and here
        return


def _tail(log: Path, lines: int) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
