"""sloengine: SLO specs to rules and dashboards, streamed burn rates, canary verdicts."""

__version__ = "0.1.0"
