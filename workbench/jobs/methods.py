"""Registers every method family's methods (imported lazily by the registry)."""
from __future__ import annotations

from . import certify
from .registry import Method, register

_BOUND_VIEWS = ("output_bounds", "certified_accuracy", "toy2d")

register(Method("ibp", "IBP", "bounds", certify.IbpParams, certify.run, _BOUND_VIEWS,
                "Interval bound propagation: fast, loose."))
register(Method("crown", "CROWN", "bounds", certify.CrownParams, certify.run, _BOUND_VIEWS,
                "Backward linear relaxation with CROWN intermediate bounds."))
register(Method("alpha-crown", "alpha-CROWN", "bounds", certify.AlphaCrownParams, certify.run, _BOUND_VIEWS,
                "CROWN with optimised relaxation slopes: tighter, slower."))
