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

# Randomized smoothing (workbench/smoothing). Each family's lines stay in one block of their own.
from ..smoothing import job as smoothing_job  # noqa: E402
from ..smoothing import params as smoothing_params  # noqa: E402

_SMOOTHING_VIEWS = ("smoothing_toy2d", "smoothing_accuracy")
_DATA_DEPENDENT_VIEWS = _SMOOTHING_VIEWS + ("smoothing_sigma_image",)  # per-input sigma to show
register(Method("smoothing", "Randomized smoothing", "smoothing", smoothing_params.SmoothingParams,
                smoothing_job.run, _SMOOTHING_VIEWS,
                "Cohen et al.: certified L2 radius from Gaussian noise (L1 with uniform noise)."))
register(Method("ancer", "ANCER", "smoothing", smoothing_params.AncerParams, smoothing_job.run,
                _DATA_DEPENDENT_VIEWS, "Anisotropic smoothing optimised per input: L2 ellipsoids, "
                "L1 cross-polytopes; with the memory step."))
register(Method("rancer", "RANCER", "smoothing", smoothing_params.RancerParams, smoothing_job.run,
                _DATA_DEPENDENT_VIEWS + ("smoothing_hessian",), "Smoothing rotated into the loss "
                "Hessian's eigenbasis, optimised per input; with the memory step."))

# PINN error certification (workbench/pinn): runs against a PDE (`workbench pinn certify`).
from ..pinn import job as pinn_job  # noqa: E402

register(Method("d-crown", "∂-CROWN", "pinn", pinn_job.PinnParams, pinn_job.run,
                ("pinn_residual", "pinn_conditions", "pinn_convergence"),
                "Sound bounds of a PINN's residual, initial and boundary errors over the whole domain, "
                "by ∂-CROWN with adaptive domain splitting."))
