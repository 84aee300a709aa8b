"""Tests that run every example's ``main()`` and check what it did."""
