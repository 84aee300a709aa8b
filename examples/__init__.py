"""Runnable examples of fiscus_dsl; each module runs as ``python examples/NAME.py``.

The package marker lets ``examples/tests`` import the examples as
``examples.onboarding`` and so on, from any checkout, without path tricks.
"""
