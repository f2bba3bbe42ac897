"""Certify a PINN over its whole domain: residual, initial and boundary errors (∂-CROWN).

    certify_pinn(net, pde, Settings(...)) -> ({"residual": PartResult, "initial": ..., "boundary": ...}, history)

Modules: network (the PINN as a tanh MLP with its input order), forms (residual terms as
per-box linear forms: McCormick, squares, monotone functions), residual (two backward passes
per batch of boxes), conditions (IC/BC errors along one coordinate, interval ∩ mean-value
enclosures), empirical (exact errors at points, dense maxima), splitting (the adaptive loop),
certify (the three parts under one time budget).
"""
from .certify import PARTS, PartResult, Settings, certify_pinn
from .network import PinnNetwork, load_pinn, pinn_network

__all__ = ["PARTS", "PartResult", "PinnNetwork", "Settings", "certify_pinn", "load_pinn", "pinn_network"]
