"""Hypothesis runs the same examples on every run and every machine, CI included.

A suite that must pass every time cannot draw new random examples on each run (a rare
example found on CI fails a change that did not cause it), nor time its examples on a loaded
machine: `deadline` and the `too_slow` health check measure wall-clock time, so under CPU
load they fail tests whose behaviour is right. Tests with their own `@settings` inherit what
they leave unset from this profile.

To explore with fresh random examples by hand: `pytest --hypothesis-profile=explore`
(the fuzz suite also has SLOENGINE_FUZZ_RANDOM=1, see tests/fuzz/conftest.py).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "deterministic",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "explore",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("deterministic")
