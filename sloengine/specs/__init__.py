"""SLO spec loading: OpenSLO v1, Sloth prometheus/v1 and the native form into one Catalog.

    from sloengine.specs import load_catalog
    catalog = load_catalog(["examples/slos"])   # raises SpecErrors listing every problem

See docs/specs.md for the accepted formats and the error format.
"""

from sloengine.specs._catalog import load_catalog
from sloengine.specs._documents import SPEC_SUFFIXES
from sloengine.specs._promql import WINDOW, render

__all__ = ["SPEC_SUFFIXES", "WINDOW", "load_catalog", "render"]
