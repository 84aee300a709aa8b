"""Tests of the testing kit: fiscus_dsl.testing and its pytest plugin."""
