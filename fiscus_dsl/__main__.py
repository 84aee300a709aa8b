"""``python -m fiscus_dsl``: the ``fiscus`` command, as the console script runs it."""

from __future__ import annotations

from fiscus_dsl._cli import main

if __name__ == "__main__":
    main()
