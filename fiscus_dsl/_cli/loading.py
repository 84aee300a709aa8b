"""Import a workflow file by path, find its workflows, and read a run's inputs.

A file is imported as a module named after it (unless another file took
that name), with its directory first on ``sys.path`` as ``python FILE.py``
would have it; its ``if __name__ == "__main__":`` block does not run.
Inputs come from ``--input-json`` and ``-i NAME=VALUE`` pairs: JSON when
the value parses as JSON, else text, and always text for an input
annotated ``str``; the workflow validates them.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

from fiscus_dsl._cli.output import describe, fail
from fiscus_dsl._dsl.workflow import Workflow
from fiscus_dsl.errors import SignatureError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import ModuleType


@final
class ImportFailure(Exception):  # noqa: N818  (a report for the CLI to print)
    """A file's own code raised while it was imported: where, and why.

    Attributes:
        location: ``file.py:LINE`` of the innermost frame in the file.
        reason: The error as ``Type: message``.
    """

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason


def _module_name(path: Path) -> str:
    """Name the module after the file, unless another module has that name."""
    stem = re.sub(r"\W", "_", path.stem)
    name = stem if stem.isidentifier() else f"_{stem}"
    existing = sys.modules.get(name)
    if existing is None or getattr(existing, "__file__", None) == str(path):
        return name
    return f"fiscus_file_{name}"


def import_file(path: Path) -> ModuleType:
    """Import a Python file as a module, with its directory first on ``sys.path``.

    Raises:
        ImportFailure: The file's own code raised while it was imported.
    """
    path = path.resolve()
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover  (a .py file loads)
        fail(f"Python cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic and pickle look modules up by name
    try:
        spec.loader.exec_module(module)
    # Importing runs the file's own code, which may raise anything: report it.
    except Exception as exc:
        del sys.modules[name]
        raise ImportFailure(error_location(exc, path), describe(exc)) from exc
    return module


def error_location(error: BaseException, path: Path) -> str:
    """Return ``file.py:LINE`` of the innermost frame in ``path``, else the last."""
    if isinstance(error, SyntaxError) and error.filename and error.lineno:
        return f"{Path(error.filename).name}:{error.lineno}"
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if frame.filename == str(path)] or frames
    if not ours:  # pragma: no cover  (a raised error has a frame)
        return path.name
    return f"{Path(ours[-1].filename).name}:{ours[-1].lineno}"


def existing_python_file(text: str) -> Path:
    """Return the path of a ``.py`` file that exists, or fail with exit code 2."""
    path = Path(text)
    if not path.is_file():
        fail(f"No such file: {text}")
    if path.suffix != ".py":
        fail(f"{text} is not a Python file; give a .py file")
    return path


def load(text: str) -> ModuleType:
    """Import a file for a command that needs it: a failure is bad usage."""
    path = existing_python_file(text)
    try:
        return import_file(path)
    except ImportFailure as failure:
        fail(f"Cannot import {text}: {failure.reason} ({failure.location})")


def workflows_in(module: ModuleType) -> dict[str, Workflow[..., Any]]:
    """Return the module-level workflows of a module, by name."""
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, Workflow) and not name.startswith("_")
    }


def split_target(target: str) -> tuple[str, str | None]:
    """Split ``FILE.py:WORKFLOW`` into the file and the (optional) workflow name."""
    path, colon, name = target.rpartition(":")
    if colon and name.isidentifier():
        return path, name
    return target, None


def find_workflow(target: str) -> Workflow[..., Any]:
    """Import ``FILE.py[:WORKFLOW]`` and return the workflow it names.

    Without a name, the file must hold exactly one workflow.
    """
    text, name = split_target(target)
    found = workflows_in(load(text))
    listed = ", ".join(sorted(found)) or "none"
    if name is None:
        if len(found) == 1:
            return next(iter(found.values()))
        count = len(found)
        fail(f"{text} has {count} workflows ({listed}); name one: FILE.py:NAME")
    if name not in found:
        fail(f"{text} has no workflow named {name!r}; its workflows: {listed}")
    return found[name]


# ---------------------------------------------------------------- inputs


def _text_inputs(wf: Workflow[..., Any]) -> set[str]:
    """Return the inputs annotated ``str``: their values are taken as typed."""
    try:
        hints = wf.call_signature.hints()
    except SignatureError:  # the run reports it; until then, parse every value
        return set()
    return {name for name, hint in hints.items() if hint is str}


def _parse_value(text: str) -> object:
    try:
        value: object = json.loads(text)
    except ValueError:
        return text
    return value


def parse_inputs(
    wf: Workflow[..., Any], pairs: Sequence[str], json_file: str | None
) -> dict[str, object]:
    """Read ``--input-json``, then the ``-i NAME=VALUE`` pairs over it.

    A value is JSON when it parses as JSON and text otherwise; for an input
    annotated ``str`` it is always the text as given.
    """
    inputs = {} if json_file is None else _json_inputs(json_file)
    as_text = _text_inputs(wf)
    for pair in pairs:
        key, equals, value = pair.partition("=")
        key = key.strip()
        if not equals or not key.isidentifier():
            fail(f"Bad input {pair!r}; write -i NAME=VALUE, e.g. -i name=Ada")
        inputs[key] = value if key in as_text else _parse_value(value)
    return inputs


def _json_inputs(json_file: str) -> dict[str, object]:
    try:
        text = sys.stdin.read() if json_file == "-" else Path(json_file).read_text()
    except OSError as exc:
        fail(f"Cannot read --input-json {json_file}: {exc.strerror or exc}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        fail(f"--input-json {json_file} is not JSON: {exc}")
    if not isinstance(data, dict):
        fail(f"--input-json {json_file} must hold a JSON object of inputs by name")
    return data


def check_binds(wf: Workflow[..., Any], inputs: Mapping[str, object]) -> None:
    """Refuse missing or unknown inputs, naming the inputs the workflow takes."""
    signature = wf.call_signature.signature
    problems = wf.call_signature.problems((), inputs)
    if problems:
        names = [
            name if parameter.default is parameter.empty else f"{name} (optional)"
            for name, parameter in signature.parameters.items()
        ]
        takes = f"the inputs {', '.join(names)}" if names else "no inputs"
        fail(
            f"Workflow {wf.name!r} takes {takes}, and got inputs that do not fit "
            f"({'; '.join(problems)}); pass each input as -i NAME=VALUE"
        )
