"""Arize Phoenix as a real trace backend: start it on loopback, read spans back.

``start_phoenix`` runs ``phoenix serve`` from Phoenix's own venv as a
subprocess on free 127.0.0.1 ports, with a fresh working directory (its
SQLite database), telemetry and external resources off, and its noisy log
in a file; it returns once ``/healthz`` answers. ``read_spans`` reads a
project's spans through the REST API, waiting a little for them to land,
and ``flatten`` turns nested attribute dicts into dotted keys. Only the
standard library: the test venv never imports Phoenix.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

if TYPE_CHECKING:
    from collections.abc import Mapping

STARTUP_TIMEOUT: Final = 60.0
READ_TIMEOUT: Final = 10.0
STOP_TIMEOUT: Final = 10.0
_POLL: Final = 0.1

Span = dict[str, Any]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Phoenix:
    """A running ``phoenix serve``: its process, URL, working dir and log."""

    process: subprocess.Popen[bytes]
    base_url: str
    working_dir: Path
    log: Path
    startup_seconds: float

    def stop(self) -> None:
        """Ask the server to stop (SIGTERM) and wait for it; kill it if it hangs."""
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
            raise


def phoenix_executable(setting: str) -> Path:
    """Return the ``phoenix`` executable named by ``FISCUS_PHOENIX``.

    The setting is the executable itself or the venv holding it.
    """
    path = Path(setting).expanduser()
    if path.is_dir():
        path = path / "bin" / "phoenix"
    if not (path.is_file() and os.access(path, os.X_OK)):
        msg = (
            f"FISCUS_PHOENIX={setting!r} is not a phoenix executable nor a venv "
            "holding bin/phoenix; create one with `python3 -m venv VENV && "
            "VENV/bin/pip install arize-phoenix`"
        )
        raise FileNotFoundError(msg)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def start_phoenix(executable: Path, working_dir: Path) -> Phoenix:
    """Start ``phoenix serve`` on free loopback ports; return once it is healthy."""
    port = free_port()
    working_dir.mkdir(parents=True, exist_ok=True)
    # A developer's own PHOENIX_* settings (a Postgres URL, say) stay out.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
    env = {
        **inherited,
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        # The gRPC receiver binds every interface whatever PHOENIX_HOST says:
        # a free port keeps parallel servers off each other's 4317.
        "PHOENIX_GRPC_PORT": str(free_port("0.0.0.0")),
        "PHOENIX_WORKING_DIR": str(working_dir / "phoenix"),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    }
    log = working_dir / "phoenix.log"
    started = time.monotonic()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(executable), "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    phoenix = Phoenix(
        process=process,
        base_url=f"http://127.0.0.1:{port}",
        working_dir=working_dir / "phoenix",
        log=log,
        startup_seconds=0.0,
    )
    try:
        _wait_healthy(phoenix)
    except BaseException:
        phoenix.stop()
        raise
    return replace(phoenix, startup_seconds=time.monotonic() - started)


def _wait_healthy(phoenix: Phoenix) -> None:
    until = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < until:
        if phoenix.process.poll() is not None:
            msg = (
                f"phoenix serve exited with {phoenix.process.returncode} before "
                f"it was healthy; its log:\n{_tail(phoenix.log)}"
            )
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(f"{phoenix.base_url}/healthz", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(_POLL)
    msg = (
        f"phoenix serve was not healthy within {STARTUP_TIMEOUT:.0f} s; "
        f"its log:\n{_tail(phoenix.log)}"
    )
    raise TimeoutError(msg)


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def get_json(url: str) -> Any:
    """GET ``url`` and decode its JSON."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def read_spans(base_url: str, project: str, *, expected: int) -> list[Span]:
    """Read a project's spans through the REST API, waiting for ``expected`` of them.

    Spans land a few milliseconds after the exporter's flush returns, so
    this polls for up to ``READ_TIMEOUT`` seconds; it returns what is there
    by then, for the caller's assertions to show.
    """
    url = f"{base_url}/v1/projects/{project}/spans?limit=1000"
    until = time.monotonic() + READ_TIMEOUT
    spans: list[Span] = []
    while time.monotonic() < until:
        try:
            spans = get_json(url)["data"]
        except urllib.error.HTTPError as exc:  # 404 until the project exists
            if exc.code != HTTPStatus.NOT_FOUND:
                raise
        if len(spans) >= expected:
            break
        time.sleep(_POLL)
    return spans


def flatten(attributes: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Turn nested attribute dicts (``{"http": {"request": ...}}``) into dotted keys."""
    flat: dict[str, Any] = {}
    for key, value in attributes.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
