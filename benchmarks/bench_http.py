"""Measure HTTP fan-out through fiscus_dsl connectors beside plain aiohttp.

Run ``python benchmarks/bench_http.py`` (``--quick`` for a smoke run,
``--faults`` for the fault mix, ``--memory`` for peak memory).

Everything runs in one process and one event loop, against a local HTTP/1.1
server the script starts on 127.0.0.1 (an ``asyncio.Protocol``, so that the
server's own cost is small and the same for every client), which answers
each request 50 ms after reading it. Rows, each timed in rounds that take
every client in turn (so drift reaches all of them alike), as medians:

- ``aiohttp``: plain aiohttp, one ``ClientSession`` whose pool has as many
  connections as the connectors' ``max_concurrency``: the baseline;
- ``direct <transport>``: one ``httpx.AsyncClient`` on the transport a
  connector makes for that option (default, ``"aiohttp"``, ``"httpx"``);
- ``fiscus <transport>``: a connector operation mapped over the items in
  one workflow run (``await wf.arun()``), ``max_concurrency`` as above, the
  runner's own limit off, and pydantic validating every answer.

"vs aiohttp" divides by the baseline of the same row; "vs direct" divides a
connector's time by httpx's client on the same transport. On the default
transport and ``"aiohttp"`` an operation skips httpx's client and sends
through aiohttp's session itself (the direct route, docs/decisions.md), so
for those two "vs aiohttp" is the whole of what the connector, the run and
pydantic add to aiohttp doing the same requests. A GET row ends with its
verdicts against the targets.
The ``"httpx"`` transport (one httpcore pool) takes tens of seconds per
thousand requests at this concurrency, so it runs once, in the first row only.

``--faults``: 10,000 POSTs at concurrency 100 while the server answers 5 %
of requests with 503, stalls 1 % past the 1 s deadline and resets 0.5 %;
fiscus_dsl retries by its policy, plain aiohttp by the same policy written
out (5 attempts, 50 ms backoff doubling, 1 s deadline per attempt).

``--memory``: the peak RSS (VmHWM) of a fresh process that sends 10,000
concurrent GETs answered with 10 KB each and keeps the answers, through
plain aiohttp and through a connector, against a server in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

import aiohttp
import httpx

from fiscus_dsl import Connector, FiscusUser, Retry, Runner, UserAuth, workflow
from fiscus_dsl._connectors.transports import inner_transport

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

DELAY: Final = 0.05
CONCURRENCY: Final = 1000
TARGET_DEFAULT: Final = 1.5
TARGET_AIOHTTP: Final = 1.3
TARGET_OWN_COST: Final = 1.1
TARGET_MEMORY: Final = 2.0
FAULT_REQUESTS: Final = 10_000
FAULT_CONCURRENCY: Final = 100
DEADLINE: Final = 1.0
STALL: Final = 2.0
ATTEMPTS: Final = 5
BACKOFF: Final = 0.05
MEMORY_REQUESTS: Final = 10_000
MEMORY_BODY: Final = 10_000

Method = Literal["GET", "POST"]
TransportName = Literal["default", "aiohttp", "httpx"]
TRANSPORTS: Final[tuple[TransportName, ...]] = ("default", "aiohttp", "httpx")


# ---------------------------------------------------------------- the server


@dataclass(slots=True)
class Faults:
    """The share of requests the server fails, and how."""

    unavailable: float = 0.0
    stall: float = 0.0
    reset: float = 0.0
    random: random.Random = field(default_factory=lambda: random.Random(12))
    counts: dict[str, int] = field(default_factory=dict)

    def pick(self) -> str:
        """Return what to do with the next request: answer, 503, stall or reset."""
        draw = self.random.random()
        for kind, share in (
            ("503", self.unavailable),
            ("stall", self.stall),
            ("reset", self.reset),
        ):
            if draw < share:
                self.counts[kind] = self.counts.get(kind, 0) + 1
                return kind
            draw -= share
        return "answer"


class _Handler(asyncio.Protocol):
    """HTTP/1.1 with keep-alive: read a request, answer it ``DELAY`` later."""

    def __init__(self, body: bytes, faults: Faults) -> None:
        self._body = body
        self._faults = faults
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            length = 0
            for line in self._buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self._buffer) < end + 4 + length:
                return
            self._buffer = self._buffer[end + 4 + length :]
            self._schedule(self._faults.pick())

    def _schedule(self, kind: str) -> None:
        loop = asyncio.get_running_loop()
        if kind == "reset":
            loop.call_later(DELAY, self._reset)
        elif kind == "stall":
            loop.call_later(STALL, self._answer, 200)
        else:
            loop.call_later(DELAY, self._answer, 503 if kind == "503" else 200)

    def _answer(self, status: int) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        body = self._body if status == 200 else b'{"error": "unavailable"}'
        reason = b"OK" if status == 200 else b"Service Unavailable"
        self._transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (status, reason, len(body), body)
        )

    def _reset(self) -> None:
        if self._transport is not None:
            self._transport.abort()


async def serve(*, body_size: int = 0, faults: Faults | None = None) -> asyncio.Server:
    """Start the server on a free port of 127.0.0.1."""
    body = json.dumps({"id": 1, "pad": "x" * body_size}).encode()
    chosen = faults or Faults()
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: _Handler(body, chosen), "127.0.0.1", 0, backlog=4096
    )


def url_of(server: asyncio.Server) -> str:
    """Return the server's base URL."""
    port = server.sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ---------------------------------------------------------------- the clients


async def plain_aiohttp(base: str, count: int, method: Method) -> list[object]:
    """Send ``count`` requests at once with one aiohttp session."""
    pool = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=pool) as session:

        async def one(item: int) -> object:
            url = f"{base}/items/{item}"
            payload = {"item": item} if method == "POST" else None
            async with session.request(method, url, json=payload) as response:
                response.raise_for_status()
                return await response.json()

        return await asyncio.gather(*(one(item) for item in range(count)))


async def direct(
    base: str, count: int, method: Method, transport: TransportName
) -> list[object]:
    """Send ``count`` requests at once with one httpx client on ``transport``."""
    option = None if transport == "default" else transport
    inner = inner_transport(option, CONCURRENCY)
    # The connector's timeouts: 30 s, and no limit on the wait for a connection.
    timeout = httpx.Timeout(30.0, pool=None)
    async with httpx.AsyncClient(
        base_url=base, transport=inner, timeout=timeout
    ) as client:

        async def one(item: int) -> object:
            payload = {"item": item} if method == "POST" else None
            response = await client.request(method, f"/items/{item}", json=payload)
            response.raise_for_status()
            return response.json()

        return await asyncio.gather(*(one(item) for item in range(count)))


def fiscus_flow(
    base: str, method: Method, transport: TransportName
) -> Callable[[int], Awaitable[object]]:
    """Return a coroutine function that maps one operation over ``count`` items."""
    api = Connector(
        "bench",
        base,
        max_concurrency=CONCURRENCY,
        transport=None if transport == "default" else transport,
    )

    @api.operation(f"{method} /items/{{item}}")
    def send_item(item: int) -> dict[str, object]:
        """Send one item."""
        raise NotImplementedError  # the connector sends the request

    @workflow
    def fan_out(items: list[int]) -> list[dict[str, object]]:
        return send_item.map(item=items)

    runner = Runner(max_concurrency=None)

    async def run(count: int) -> object:
        result = await runner.arun(fan_out, items=list(range(count)))
        assert result.success, result.error_message
        return result.output

    return run


def fiscus_user_flow(base: str, method: Method) -> Callable[[int], Awaitable[object]]:
    """Return ``fiscus_flow``'s run on the default transport, for an end user.

    The connector takes each user's credential (``UserAuth``): the run acts
    for a ``FiscusUser`` with an API key, so every request checks the user's
    policies and takes their credential from the (in-memory) store.
    """
    api = Connector("bench", base, max_concurrency=CONCURRENCY, auth=UserAuth())

    @api.operation(f"{method} /items/{{item}}")
    def send_item(item: int) -> dict[str, object]:
        """Send one item."""
        raise NotImplementedError  # the connector sends the request

    @workflow
    def fan_out(items: list[int]) -> list[dict[str, object]]:
        return send_item.map(item=items)

    runner = Runner(max_concurrency=None)
    user = FiscusUser("bench-user")
    user.authenticate_connector("bench", {"api_key": "bench-key"})

    async def run(count: int) -> object:
        result = await runner.arun(fan_out, items=list(range(count)), user=user)
        assert result.success, result.error_message
        return result.output

    return run


# ---------------------------------------------------------------- timing


@dataclass(frozen=True, slots=True)
class Case:
    """One client of a row."""

    name: str
    call: Callable[[], Awaitable[object]]
    repeats: int


async def time_row(cases: list[Case], repeats: int) -> dict[str, float]:
    """Time every case in rounds; return each one's median in seconds."""
    times: dict[str, list[float]] = {case.name: [] for case in cases}
    for round_ in range(repeats):
        for case in cases:
            if round_ >= case.repeats:
                continue
            start = time.perf_counter()
            await case.call()
            times[case.name].append(time.perf_counter() - start)
    return {name: statistics.median(found) for name, found in times.items()}


def print_row(title: str, medians: dict[str, float], *, method: Method) -> None:
    """Print one row's medians, beside the baseline and the transport used alone.

    A GET row ends with the verdicts: the default transport and
    ``transport="aiohttp"`` against plain aiohttp, and the connector's own
    cost over httpx's client on the same transport.
    """
    base = medians["aiohttp"]
    print(f"\n{title}")
    print(f"  {'client':<18}{'median':>10}{'vs aiohttp':>12}{'vs direct':>11}")
    for name, seconds in medians.items():
        kind, _, transport = name.partition(" ")
        own = medians.get(f"direct {transport}") if kind == "fiscus" else None
        own_text = f"{seconds / own:>10.2f}x" if own else ""
        print(f"  {name:<18}{seconds * 1000:>8.0f}ms{seconds / base:>11.2f}x{own_text}")
    if method != "GET":
        return
    for name, target in (("default", TARGET_DEFAULT), ("aiohttp", TARGET_AIOHTTP)):
        ratio = medians[f"fiscus {name}"] / base
        print(f"  fiscus {name} vs aiohttp {ratio:.2f}x  {_verdict(ratio, target)}")
    for name in ("default", "aiohttp"):
        ratio = medians[f"fiscus {name}"] / medians[f"direct {name}"]
        print(
            f"  fiscus {name} vs httpx's client on its transport {ratio:.2f}x  "
            f"{_verdict(ratio, TARGET_OWN_COST)}"
        )


def _verdict(ratio: float, target: float) -> str:
    return f"<= {target:g}x: {'meets' if ratio <= target else 'MISSES'}"


async def speed(repeats: int, sizes: tuple[int, int]) -> None:
    """Time the GET and POST rows."""
    server = await serve()
    base = url_of(server)
    rows: list[tuple[int, Method]] = [
        (sizes[0], "GET"),
        (sizes[1], "GET"),
        (sizes[0], "POST"),
    ]
    try:
        for count, method in rows:
            cases = [Case("aiohttp", _bind_plain(base, count, method), repeats)]
            for transport in TRANSPORTS:
                if transport == "httpx" and (count != sizes[0] or method == "POST"):
                    continue  # one httpcore pool of 1,000: tens of seconds a run
                runs = 1 if transport == "httpx" else repeats
                flow = fiscus_flow(base, method, transport)
                cases.append(
                    Case(
                        f"direct {transport}",
                        _bind_direct(base, count, method, transport),
                        runs,
                    )
                )
                cases.append(Case(f"fiscus {transport}", _bind(flow, count), runs))
            user_flow = fiscus_user_flow(base, method)
            cases.append(Case("fiscus end user", _bind(user_flow, count), repeats))
            medians = await time_row(cases, repeats)
            print_row(
                f"{count:,} concurrent {method}s, 50 ms each", medians, method=method
            )
    finally:
        server.close()


def _bind_plain(
    base: str, count: int, method: Method
) -> Callable[[], Awaitable[object]]:
    return lambda: plain_aiohttp(base, count, method)


def _bind_direct(
    base: str, count: int, method: Method, transport: TransportName
) -> Callable[[], Awaitable[object]]:
    return lambda: direct(base, count, method, transport)


def _bind(
    flow: Callable[[int], Awaitable[object]], count: int
) -> Callable[[], Awaitable[object]]:
    return lambda: flow(count)


# ---------------------------------------------------------------- faults


async def faulty_aiohttp(base: str, count: int) -> int:
    """POST ``count`` items through aiohttp with the connector's policy written out.

    Returns how many failed for good.
    """
    gate = asyncio.Semaphore(FAULT_CONCURRENCY)
    deadline = aiohttp.ClientTimeout(total=DEADLINE)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=FAULT_CONCURRENCY)
    ) as session:

        async def attempt(item: int) -> bool:
            async with gate:  # the deadline starts once a slot is free
                try:
                    async with session.post(
                        f"{base}/items/{item}", json={"item": item}, timeout=deadline
                    ) as response:
                        await response.read()
                        return response.status < 500
                except (aiohttp.ClientError, TimeoutError):
                    return False

        async def one(item: int) -> bool:
            for number in range(1, ATTEMPTS + 1):
                if await attempt(item):
                    return True
                if number < ATTEMPTS:
                    await asyncio.sleep(BACKOFF * 2 ** (number - 1))
            return False

        done = await asyncio.gather(*(one(item) for item in range(count)))
    return done.count(False)


def faulty_fiscus(
    base: str, transport: TransportName
) -> Callable[[int], Awaitable[int]]:
    """Return a coroutine function that POSTs ``count`` items through a connector."""
    api = Connector(
        "faults",
        base,
        timeout=DEADLINE,
        max_concurrency=FAULT_CONCURRENCY,
        retry=Retry(attempts=ATTEMPTS, backoff=BACKOFF, max_delay=1.0, jitter=False),
        transport=None if transport == "default" else transport,
    )

    @api.operation("POST /items/{item}", on_error="continue")
    def post_item(item: int) -> dict[str, object]:
        """Post one item."""
        raise NotImplementedError  # the connector sends the request

    @workflow
    def post_all(items: list[int]) -> list[dict[str, object]]:
        return post_item.map(item=items)

    runner = Runner(max_concurrency=None)

    async def run(count: int) -> int:
        result = await runner.arun(post_all, items=list(range(count)))
        return sum(1 for task in result.tasks.values() if task.error is not None)

    return run


async def faults(count: int) -> None:
    """Time the POSTs under the fault mix on every client."""
    mix = Faults(unavailable=0.05, stall=0.01, reset=0.005)
    server = await serve(faults=mix)
    base = url_of(server)
    rows: list[tuple[str, float, int, str]] = []
    try:
        for name in ("aiohttp", "fiscus default", "fiscus aiohttp", "fiscus httpx"):
            mix.counts.clear()
            start = time.perf_counter()
            if name == "aiohttp":
                failed = await faulty_aiohttp(base, count)
            else:
                transport: TransportName = name.split()[1]  # type: ignore[assignment]  # one of TRANSPORTS
                failed = await faulty_fiscus(base, transport)(count)
            served = ", ".join(f"{n} {kind}" for kind, n in sorted(mix.counts.items()))
            rows.append((name, time.perf_counter() - start, failed, served))
    finally:
        server.close()
    print(
        f"\n{count:,} POSTs at concurrency {FAULT_CONCURRENCY}: 5 % 503, 1 % stalled "
        f"past the {DEADLINE:g} s deadline, 0.5 % reset"
    )
    print(f"  {'client':<18}{'time':>10}{'vs aiohttp':>12}{'failed':>8}  faults served")
    base_time = rows[0][1]
    for name, seconds, failed, served in rows:
        print(
            f"  {name:<18}{seconds:>9.2f}s{seconds / base_time:>11.2f}x{failed:>8}"
            f"  {served}"
        )


# ---------------------------------------------------------------- memory

_PLAIN_PROBE: Final = textwrap.dedent(
    """
    import asyncio, sys
    import aiohttp

    async def main(base, count):
        pool = aiohttp.TCPConnector(limit={concurrency})
        async with aiohttp.ClientSession(connector=pool) as session:
            async def one(item):
                async with session.get(f"{{base}}/items/{{item}}") as response:
                    response.raise_for_status()
                    return await response.json()
            return await asyncio.gather(*(one(item) for item in range(count)))

    answers = asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    assert len(answers) == int(sys.argv[2])
    """
)

_FISCUS_PROBE: Final = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, {folder!r})
    from bench_http import fiscus_flow

    flow = fiscus_flow(sys.argv[1], "GET", {transport!r})
    answers = asyncio.run(flow(int(sys.argv[2])))
    assert len(answers) == int(sys.argv[2])
    """
)

_PEAK: Final = textwrap.dedent(
    """
    with open("/proc/self/status") as status:
        print(next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")))
    """
)


def peak_rss_mb(code: str, base: str, count: int) -> float:
    """Return the peak RSS (MB) of a fresh process running ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", code + _PEAK, base, str(count)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(out.split()[-1]) / 1024


def memory(count: int) -> None:
    """Compare the peak RSS of 10 KB answers through aiohttp and connectors."""
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(serve(body_size=MEMORY_BODY))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    base = url_of(server)
    folder = str(__import__("pathlib").Path(__file__).resolve().parent)
    try:
        plain = peak_rss_mb(_PLAIN_PROBE.format(concurrency=CONCURRENCY), base, count)
        print(f"\n{count:,} concurrent GETs, 10 KB answers kept: peak RSS")
        print(f"  {'aiohttp':<18}{plain:>8.0f} MB{1.0:>11.2f}x")
        for transport in ("default", "aiohttp"):
            code = _FISCUS_PROBE.format(folder=folder, transport=transport)
            peak = peak_rss_mb(code, base, count)
            verdict = "meets" if peak / plain <= TARGET_MEMORY else "MISSES"
            print(
                f"  {'fiscus ' + transport:<18}{peak:>8.0f} MB{peak / plain:>11.2f}x"
                f"  ({verdict} {TARGET_MEMORY:g}x)"
            )
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    """Parse the options and run the chosen measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repeat")
    parser.add_argument("--repeats", type=int, default=5, help="rounds per row")
    parser.add_argument("--faults", action="store_true", help="the fault mix only")
    parser.add_argument("--memory", action="store_true", help="peak memory only")
    options = parser.parse_args(argv)
    print(
        f"python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, httpx "
        f"{httpx.__version__}; server answers after {DELAY * 1000:.0f} ms"
    )
    if options.faults:
        asyncio.run(faults(1000 if options.quick else FAULT_REQUESTS))
    elif options.memory:
        memory(1000 if options.quick else MEMORY_REQUESTS)
    elif options.quick:
        asyncio.run(speed(1, (200, 1000)))
    else:
        asyncio.run(speed(options.repeats, (1000, 10_000)))


if __name__ == "__main__":
    main()
