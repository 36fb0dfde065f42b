"""Fakes for tests: the multi-instance World (tests/fakes/world.py)."""
