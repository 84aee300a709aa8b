"""Importing workflow files by path: module names, ``sys.path``, targets, inputs."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from fiscus_dsl._cli.loading import (
    ImportFailure,
    import_file,
    parse_inputs,
    split_target,
    workflows_in,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def test_a_file_is_imported_under_its_own_name_with_its_directory_on_the_path(
    flow: Path,
) -> None:
    module = import_file(flow)

    assert module.__name__ == "flow"
    assert sys.modules["flow"] is module
    assert sys.path[0] == str(flow.parent)
    assert sorted(workflows_in(module)) == ["broken", "hello"]


def test_a_file_whose_name_is_taken_gets_a_name_of_its_own(
    write: Callable[[str, str], Path],
) -> None:
    path = write("json.py", "VALUE = 1\n")

    module = import_file(path)

    assert module.__name__ == "fiscus_file_json"
    assert sys.modules["json"] is not module


@pytest.mark.parametrize(
    ("name", "module"), [("my-flow.py", "my_flow"), ("1flow.py", "_1flow")]
)
def test_a_file_name_that_is_no_identifier_is_made_one(
    write: Callable[[str, str], Path], name: str, module: str
) -> None:
    assert import_file(write(name, "VALUE = 1\n")).__name__ == module


def test_a_file_can_import_its_neighbours(write: Callable[[str, str], Path]) -> None:
    write("helpers_for_flow.py", "ANSWER = 42\n")
    path = write("uses.py", "from helpers_for_flow import ANSWER\n")

    assert import_file(path).ANSWER == 42


def test_a_file_that_raises_is_reported_with_its_line_and_forgotten(
    write: Callable[[str, str], Path],
) -> None:
    path = write("raises.py", "A = 1\nB = {}['missing']\n")

    with pytest.raises(ImportFailure) as caught:
        import_file(path)

    assert caught.value.location == "raises.py:2"
    assert caught.value.reason == "KeyError: 'missing'"
    assert "raises" not in sys.modules


def test_an_error_raised_elsewhere_is_located_in_the_file_that_called(
    write: Callable[[str, str], Path],
) -> None:
    path = write("calls.py", "import json\n\njson.loads('nope')\n")

    with pytest.raises(ImportFailure) as caught:
        import_file(path)

    assert caught.value.location == "calls.py:3"


def test_private_names_are_not_workflows(write: Callable[[str, str], Path]) -> None:
    path = write(
        "private.py",
        """
        from fiscus_dsl import workflow

        @workflow
        def _hidden() -> None:
            return None

        alias = _hidden
        """,
    )

    assert list(workflows_in(import_file(path))) == ["alias"]


@pytest.mark.parametrize(
    ("target", "split"),
    [
        ("flow.py:hello", ("flow.py", "hello")),
        ("flow.py", ("flow.py", None)),
        ("dir/flow.py:", ("dir/flow.py:", None)),
        (r"C:\work\flow.py", (r"C:\work\flow.py", None)),
        (r"C:\work\flow.py:hello", (r"C:\work\flow.py", "hello")),
    ],
)
def test_a_target_splits_at_its_last_colon_before_a_name(
    target: str, split: tuple[str, str | None]
) -> None:
    assert split_target(target) == split


def test_inputs_of_unresolvable_annotations_are_parsed_as_json(
    write: Callable[[str, str], Path],
) -> None:
    path = write(
        "lazy.py",
        """
        from __future__ import annotations

        from typing import TYPE_CHECKING

        from fiscus_dsl import workflow

        if TYPE_CHECKING:
            from decimal import Decimal

        @workflow
        def lazy(amount: Decimal, label: str) -> None:
            return None
        """,
    )
    wf = workflows_in(import_file(path))["lazy"]

    assert parse_inputs(wf, ["amount=12", "label=12"], None) == {
        "amount": 12,
        "label": 12,
    }


def test_a_directory_goes_on_the_path_once(write: Callable[[str, str], Path]) -> None:
    first, second = write("one.py", "A = 1\n"), write("two.py", "B = 2\n")

    import_file(first)
    import_file(second)

    assert sys.path.count(str(first.parent)) == 1
