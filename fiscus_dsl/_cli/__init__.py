"""The ``fiscus`` command: run, draw and check workflows, run task files, the demo.

``commands`` holds the typer app (``run``, ``plan``, ``graph``, ``check``,
``demo``) and ``main``, the console script's entry point; ``plan`` reads
``fiscus plan``'s sample responses and prints its plans; ``tasks`` the
``tasks run`` command; ``loading`` imports workflow files and reads
inputs; ``table`` draws a run's tasks live from runner hooks; ``cluster``
makes the Dask executor of ``--dask``; ``connectors`` the ``connectors
generate`` command (a module from an OpenAPI document); ``runs`` the
``runs`` commands of the run store; ``output`` holds exit codes and text
helpers.
Exit codes: 0 success, 1 a failed run or check, 2 bad usage, with the
reason on one line of stderr. The CLI is an edge: it may import every
layer, and it writes through typer and rich, never ``print``.
"""

from fiscus_dsl._cli.commands import app as app
from fiscus_dsl._cli.commands import main as main

__all__ = ["app", "main"]
