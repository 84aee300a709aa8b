"""``SpanCapture``: the spans of a test's runs, in memory, through the runner.

A capture owns an OpenTelemetry SDK ``TracerProvider`` with an in-memory
exporter and a ``Runner`` built on it (a copy of the default runner's
settings: hooks, concurrency, executor, sleep and clock). It is handed to
the runner only, never set as the process-wide provider; ``capture_spans()``
makes that runner the default for a block with ``use_runner`` (for that
thread or asyncio task only), which is what the ``fiscus_spans`` fixture
does for a test. opentelemetry-sdk (the
``fiscus_dsl[testing]`` extra) is imported when a capture is made.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeAlias, final

from fiscus_dsl._runtime.runner import Runner, default_runner, use_runner

if TYPE_CHECKING:
    from collections.abc import Iterator

    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.util.types import AttributeValue

SpanTree: TypeAlias = "tuple[tuple[str, SpanTree], ...]"
"""Spans as ``(name, children)`` pairs; siblings in name order, then start order."""

_EXTRA_HINT = (
    "capturing spans needs opentelemetry-sdk; install the testing extra: "
    "pip install 'fiscus_dsl[testing]'"
)


@final
class SpanCapture:
    """The finished spans of the runs of one runner, kept in memory.

    Attributes:
        runner: The runner whose spans are captured; ``capture_spans()`` and
            the ``fiscus_spans`` fixture make it the default runner.
        provider: Its ``TracerProvider`` (opentelemetry-sdk).
        exporter: The ``InMemorySpanExporter`` that keeps the spans.

    Raises:
        ImportError: opentelemetry-sdk is not installed.

    Examples:
        >>> from fiscus_dsl import task, workflow
        >>> from fiscus_dsl.testing import SpanCapture
        >>> @task
        ... def hello() -> str:
        ...     return "hi"
        >>> @workflow
        ... def greet() -> str:
        ...     return hello()
        >>> spans = SpanCapture()
        >>> spans.runner.run(greet).output
        'hi'
        >>> spans.tree()
        (('workflow greet', (('task hello', ()),)),)
    """

    def __init__(self, runner: Runner | None = None) -> None:
        try:
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor
            from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
                InMemorySpanExporter,
            )
        except ImportError as exc:
            raise ImportError(_EXTRA_HINT) from exc
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(shutdown_on_exit=False)  # close() does it
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        base = runner or default_runner()
        self.runner = Runner(
            max_concurrency=base.max_concurrency,
            hooks=base.hooks,
            tracer_provider=self.provider,
            executor=base.executor,
            sleep=base.sleep,
            clock=base.clock,
        )

    def __repr__(self) -> str:
        return f"<SpanCapture of {len(self.spans)} span(s)>"

    @property
    def spans(self) -> list[ReadableSpan]:
        """Return every finished span, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def names(self) -> list[str]:
        """Return the names of the finished spans, in the order they ended."""
        return [span.name for span in self.spans]

    def all(self, name: str) -> list[ReadableSpan]:
        """Return the spans named ``name``, in the order they started."""
        found = [span for span in self.spans if span.name == name]
        return sorted(found, key=lambda span: span.start_time or 0)

    def one(self, name: str) -> ReadableSpan:
        """Return the one span named ``name``.

        Raises:
            AssertionError: There are none, or several; the message shows
                the span tree.
        """
        __tracebackhide__ = True
        found = self.all(name)
        if len(found) != 1:
            msg = (
                f"Expected exactly one span named {name!r}, found {len(found)}; "
                f"the spans are:\n{self.render()}"
            )
            raise AssertionError(msg)
        return found[0]

    def attributes(self, name: str) -> dict[str, AttributeValue]:
        """Return the attributes of the one span named ``name`` as a dict.

        Raises:
            AssertionError: There is not exactly one span of that name.
        """
        __tracebackhide__ = True
        return dict(self.one(name).attributes or {})

    def tree(self) -> SpanTree:
        """Return the spans as nested ``(name, children)`` pairs.

        Siblings come in name order, then in start order (so that tasks run
        concurrently compare the same every time, and retries keep theirs).
        A span whose parent was not captured is a root.
        """
        spans = self.spans
        ids = {_span_id(span) for span in spans}
        children: dict[int | None, list[ReadableSpan]] = {}
        for span in spans:
            parent = None if span.parent is None else span.parent.span_id
            children.setdefault(parent if parent in ids else None, []).append(span)
        return _subtree(children, None)

    def render(self) -> str:
        """Return the span tree as indented text, for messages."""
        lines: list[str] = []
        _render(self.tree(), 1, lines)
        return "\n".join(lines) if lines else "  (none)"

    def clear(self) -> None:
        """Forget the spans captured so far."""
        self.exporter.clear()

    def close(self) -> None:
        """Shut the provider down; later spans are not captured."""
        self.provider.shutdown()


@contextmanager
def capture_spans(runner: Runner | None = None) -> Iterator[SpanCapture]:
    """Capture the spans of every run on the default runner inside the block.

    The default runner is replaced, for the block, by a copy of ``runner``
    (default: the current default runner) that sends its spans to memory;
    the process-wide tracer provider is never touched. The replacement is
    ``use_runner``'s: another thread or a concurrent asyncio task keeps its
    own default runner, and the previous one comes back when the block ends.

    Raises:
        ImportError: opentelemetry-sdk is not installed.

    Examples:
        >>> from fiscus_dsl import task
        >>> from fiscus_dsl.testing import capture_spans
        >>> @task
        ... def ping() -> str:
        ...     return "pong"
        >>> with capture_spans() as spans:
        ...     ping()
        'pong'
        >>> spans.attributes("task ping")["fiscus.task.status"]
        'succeeded'
    """
    capture = SpanCapture(runner)
    try:
        with use_runner(capture.runner):
            yield capture
    finally:
        capture.close()


def _span_id(span: ReadableSpan) -> int:
    context = span.get_span_context()
    return 0 if context is None else context.span_id


def _subtree(
    children: dict[int | None, list[ReadableSpan]], parent: int | None
) -> SpanTree:
    ordered = sorted(
        children.get(parent, []), key=lambda span: (span.name, span.start_time or 0)
    )
    return tuple((span.name, _subtree(children, _span_id(span))) for span in ordered)


def _render(tree: SpanTree, depth: int, lines: list[str]) -> None:
    for name, children in tree:
        lines.append(f"{'  ' * depth}{name}")
        _render(children, depth + 1, lines)
