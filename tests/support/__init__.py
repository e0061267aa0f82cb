"""Helpers shared by the test suites (importable as ``support``; see ``tests/conftest.py``)."""
