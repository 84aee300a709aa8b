"""Measure the memory a compression bomb costs a connector, with and without a limit.

Run ``python benchmarks/bench_response_size.py`` (``--quick`` for a 64 MiB
bomb). A loopback server (uvicorn on 127.0.0.1) answers a JSON string of
``--size`` bytes compressed with gzip, about 1/1000 of that on the wire. An
operation fetches it three times: with ``max_response_bytes=None`` (httpx
decodes the whole body: the baseline), with the default 64 MiB, and with
1 MiB. Each fetch runs under ``tracemalloc``, which reports the peak of
Python's allocations in the process (the server's included; it sends a
body built before the measurement); the table gives each peak, its ratio to
the baseline's and the outcome.
"""

from __future__ import annotations

import argparse
import threading
import time
import tracemalloc
import zlib
from typing import TYPE_CHECKING, Final

import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from fiscus_dsl import Connector, ResponseTooLargeError

if TYPE_CHECKING:
    from starlette.requests import Request

MIB: Final = 1 << 20


def _bomb(size: int) -> bytes:
    encoder = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"0" * MIB
    parts = [encoder.compress(b'"')]
    parts += [encoder.compress(block) for _ in range((size - 2) // MIB)]
    parts += [encoder.compress(b'"'), encoder.flush()]
    return b"".join(parts)


def _serve(body: bytes) -> tuple[uvicorn.Server, str]:
    async def bomb(request: Request) -> Response:
        return Response(
            body, media_type="application/json", headers={"Content-Encoding": "gzip"}
        )

    config = uvicorn.Config(
        Starlette(routes=[Route("/bomb", bomb)]),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    until = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > until:
            msg = "The loopback server did not start"
            raise RuntimeError(msg)
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def _fetch(url: str, limit: int | None) -> tuple[str, float]:
    connector = Connector("loopback", url, retry=None, max_response_bytes=limit)

    @connector.operation("GET /bomb")
    def bomb() -> str:
        """Fetch the bomb."""
        raise NotImplementedError

    tracemalloc.start()
    try:
        outcome = f"read whole ({len(bomb()) / MIB:.0f} MiB)"
    except ResponseTooLargeError:
        outcome = "ResponseTooLargeError"
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return outcome, peak / MIB


def main() -> None:
    """Print the peak memory of fetching one bomb under each limit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 64 MiB bomb")
    parser.add_argument("--size", type=int, default=256, help="decoded MiB")
    args = parser.parse_args()
    size = (64 if args.quick else args.size) * MIB
    body = _bomb(size)
    server, url = _serve(body)
    try:
        print(f"bomb: {len(body):,} bytes gzip, {size // MIB} MiB decoded")
        print(f"{'max_response_bytes':>20}  {'peak MiB':>9}  {'ratio':>6}  outcome")
        baseline = 0.0
        for limit in (None, 64 * MIB, MIB):
            outcome, peak = _fetch(url, limit)
            baseline = baseline or peak
            shown = "None" if limit is None else f"{limit // MIB} MiB"
            print(f"{shown:>20}  {peak:9.1f}  {peak / baseline:6.3f}  {outcome}")
    finally:
        server.should_exit = True


if __name__ == "__main__":
    main()
