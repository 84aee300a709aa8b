"""Integration tests against a real trace backend (Arize Phoenix), when one is given."""
