"""Floor 1, the maths: pure functions of numbers and model objects (no I/O, YAML, gRPC or JSON).

`burn` (error ratios, burn rates, budgets), `bad_events` (what a bad event is for pushed
series), `timeslices` (the Timeslices ledger) and `judge` (the canary's sequential tests and
verdicts). Import the modules themselves; this package re-exports nothing.
"""
