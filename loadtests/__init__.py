"""Locust load tests for the demo's key paths, judged on trends rather than single points."""
