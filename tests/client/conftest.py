"""The in-process engine fixtures of tests/server, shared."""

from tests.server.conftest import channel, engine, start_engine

__all__ = ["channel", "engine", "start_engine"]
