"""The in-process engine fixture of tests/server (pinned clock, port 0)."""

from tests.server.conftest import start_engine  # noqa: F401
