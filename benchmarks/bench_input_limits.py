"""Measure what the input limits cost: the request body check and the YAML scan.

Run ``python benchmarks/bench_input_limits.py`` (``--quick`` for a smoke run).

1. ``json_size``, run on every JSON body an operation sends, against the
   baseline of encoding the same body as httpx does (``json.dumps`` compact,
   UTF-8): medians of interleaved repeats and their ratio, for a small body
   (4 fields) and a 1,000-row body.
2. ``json_size`` of a body that repeats one 1 MiB string a million times
   (a terabyte as JSON, one string in memory): the check stops just past
   ``MAX_BODY_BYTES``; its time and the bytes counted.
3. ``load_tasks_text`` of YAML files whose aliases repeat one 65,536-byte
   string 10,000 and 100,000 times (655 MB and 6.5 GB expanded): the time to
   the refusal and the peak memory traced, against the baseline of
   ``yaml.parse`` reading the same file without building it.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
import tracemalloc
from typing import TYPE_CHECKING, Final

import yaml

from fiscus_dsl import TaskDefinitionError, load_tasks_text
from fiscus_dsl._connectors.body import DEFAULT_MAX_REQUEST_BYTES as MAX_BODY_BYTES
from fiscus_dsl._connectors.values import json_size

if TYPE_CHECKING:
    from collections.abc import Callable

STRING: Final = 65_536


def median_seconds(
    function: Callable[[], object], *, number: int, repeat: int
) -> float:
    """Return the median time of one call, over ``repeat`` runs of ``number`` calls."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for _ in range(number):
            function()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def encode(body: object) -> bytes:
    """Encode a body as httpx does for ``json=``."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def bodies() -> dict[str, object]:
    row = {"id": 7, "name": "Ann Lee", "email": "ann@example.com", "score": 0.5}
    return {
        "4 fields": {"name": "John Doe", "email": "john@example.com", "n": 3},
        "1,000 rows": [dict(row, id=index) for index in range(1_000)],
    }


def bomb(aliases: int) -> str:
    repeats = "".join([", *t"] * aliases)
    return (
        "tasks:\n  - connector: CRM\n    operation: note\n"
        f"    params: {{text: [&t {'x' * STRING}{repeats}]}}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    quick = parser.parse_args().quick
    number, repeat = (20, 3) if quick else (2_000, 9)

    print("1. The body check against encoding the body (median of one call)")
    for name, body in bodies().items():

        def check(body: object = body) -> int:
            return json_size(body, MAX_BODY_BYTES)

        def baseline(body: object = body) -> bytes:
            return encode(body)

        checked = median_seconds(check, number=number, repeat=repeat)
        base = median_seconds(baseline, number=number, repeat=repeat)
        print(
            f"   {name:>10}: json_size {checked * 1e6:8.1f} us, encoding "
            f"{base * 1e6:8.1f} us, ratio {checked / base:.2f}"
        )

    huge = ["x" * (1024 * 1024)] * 1_000_000
    start = time.perf_counter()
    counted = json_size(huge, MAX_BODY_BYTES)
    seconds = time.perf_counter() - start
    print(
        f"2. A 1 TB body: json_size stopped at {counted:,} bytes "
        f"(limit {MAX_BODY_BYTES:,}) in {seconds * 1e3:.1f} ms"
    )

    print("3. YAML alias bombs: refused by the scan, against yaml.parse alone")
    for aliases in (10_000,) if quick else (10_000, 100_000):
        text = bomb(aliases)
        tracemalloc.start()
        start = time.perf_counter()
        try:
            load_tasks_text(text, format="yaml", max_bytes=2_000_000)
            outcome = "loaded (not refused)"
        except TaskDefinitionError as error:
            outcome = "refused: " + str(error).split(" text ", 1)[1][:40] + "..."
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        start = time.perf_counter()
        for _ in yaml.parse(text, Loader=yaml.SafeLoader):
            pass
        base = time.perf_counter() - start
        expanded = (aliases + 1) * STRING
        print(
            f"   {len(text) / 1e3:.0f} KB file, {expanded / 1e6:,.0f} MB expanded: "
            f"{seconds * 1e3:.0f} ms (yaml.parse of the whole file: "
            f"{base * 1e3:.0f} ms), peak {peak / 1e6:.1f} MB, {outcome}"
        )


if __name__ == "__main__":
    main()
