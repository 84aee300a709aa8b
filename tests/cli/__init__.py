"""Tests of the ``fiscus`` command and the sandbox API behind its demo."""
