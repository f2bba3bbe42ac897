"""Bounds of the PDE residual over a batch of (t, x) boxes: two backward passes per batch.

Pass 1 bounds every derivative symbol the residual reads (their intervals); the product and
function terms become linear forms built on those intervals (forms.py); pass 2 bounds each
residual component as one linear combination of the derivatives. The result is intersected
with interval arithmetic on the same forms, which wins on wide boxes.

A ReLU output (u = ReLU(N), diffusion–sorption) is decided per box from N's interval: N > 0
throughout, u = N and the bound above holds; N < 0 throughout, u ≡ 0 and the residual is the
PDE's constant part; where N may cross 0, u has a kink the residual is not defined on (the
reference code drops the δ(N)·N_x² term there, notes §5.2) and the box stays uncertified.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.pinn.bounds import bound_spec, prepare
from workbench.pinn.pdes.base import PDE

from .forms import EPS, Interval, component_form
from .network import PinnNetwork

Tensor = torch.Tensor
CLASSICAL, ZERO, UNDEFINED = 0, 1, 2   # how the residual is defined on a box (ReLU outputs)


@dataclass
class ResidualBounds:
    lower: Tensor    # [N, C] residual components
    upper: Tensor
    state: Tensor    # [N] CLASSICAL, ZERO or UNDEFINED

    @property
    def abs_bound(self) -> Tensor:
        """Upper bound of |f| per box (Euclidean over components; inf where undefined)."""
        m = torch.max(-self.lower, self.upper).clamp(min=0)
        out = m[:, 0] if m.shape[1] == 1 else torch.linalg.vector_norm(m, dim=1) * (1 + 4 * EPS)
        return torch.where(self.state == UNDEFINED, torch.full_like(out, float("inf")), out)


def symbols_of(pde: PDE) -> list[str]:
    """Derivative symbols (not coordinates) the residual reads, e.g. ['u', 'u_t', 'u_x', 'u_xx']."""
    return [s for s in pde.symbols if s not in ("t", "x")]


def split_symbol(symbol: str, pde: PDE) -> tuple[int, str]:
    """'v_xx' -> (index of output v, '_xx')."""
    for k, name in enumerate(pde.outputs):
        if symbol == name or symbol.startswith(name + "_"):
            return k, symbol[len(name):]
    raise ValueError(f"{symbol!r} is not a derivative of {pde.outputs}")


def residual_bounds(net: PinnNetwork, pde: PDE, lo_tx: Tensor, hi_tx: Tensor, *, method: str = "crown",
                    dtype: torch.dtype = torch.float32) -> ResidualBounds:
    """Residual bounds over boxes [lo_tx, hi_tx] ([N, 2] in (t, x) order, float64)."""
    with torch.no_grad():
        return _residual_bounds(net, pde, lo_tx.double(), hi_tx.double(), method, dtype)


def _residual_bounds(net, pde, lo_tx, hi_tx, method, dtype) -> ResidualBounds:
    N, n_out = lo_tx.shape[0], net.n_outputs
    symbols = symbols_of(pde)
    parts = {s: split_symbol(s, pde) for s in symbols}
    keyed = {s: (out, net.key(suffix)) for s, (out, suffix) in parts.items()}
    keys = {k for _, k in keyed.values()}
    dirs = sorted({i for k in keys for i in k})
    pairs = sorted({k for k in keys if len(k) == 2})
    prep = prepare(net.mlp, net.net_inputs(lo_tx), net.net_inputs(hi_tx), dirs, pairs, method, dtype)

    # Pass 1: every symbol's interval (one spec row per symbol).
    spec1: dict[tuple[int, ...], Tensor] = {}
    for row, s in enumerate(symbols):
        out, key = keyed[s]
        c = spec1.setdefault(key, lo_tx.new_zeros(len(symbols), n_out))
        c[row, out] = 1.0
    s_lo, s_up = bound_spec(prep, spec1, method)
    intervals: dict[str, Interval] = {s: (s_lo[:, r], s_up[:, r]) for r, s in enumerate(symbols)}
    state = torch.full((N,), CLASSICAL, dtype=torch.long, device=lo_tx.device)
    if net.relu_output:
        base = [i for i, s in enumerate(symbols) if parts[s][1] == ""]
        n_lo, n_up = s_lo[:, base].amin(1), s_up[:, base].amax(1)
        state = torch.where(n_up <= 0, ZERO, torch.where(n_lo > 0, CLASSICAL, UNDEFINED))
    intervals["t"], intervals["x"] = (lo_tx[:, 0], hi_tx[:, 0]), (lo_tx[:, 1], hi_tx[:, 1])

    # Pass 2: each residual component as one linear combination of the symbols.
    forms = [component_form(terms, intervals) for terms in pde.residual_terms]
    C = len(forms)
    spec2: dict[tuple[int, ...], Tensor] = {}
    for comp, form in enumerate(forms):
        for s, coeff in form.coeffs.items():
            out, key = keyed[s]
            c = spec2.setdefault(key, lo_tx.new_zeros(N, C, n_out))
            c[:, comp, out] = c[:, comp, out] + coeff
    if spec2:
        lo2, up2 = bound_spec(prep, spec2, method)
    else:
        lo2 = up2 = lo_tx.new_zeros(N, C)
    const = torch.stack([f.const for f in forms], 1)
    rad = torch.stack([f.rad for f in forms], 1)
    pad = 8 * EPS * (lo2.abs() + up2.abs() + const.abs() + rad)
    lower = torch.max(lo2 + const - rad - pad, torch.stack([f.lo for f in forms], 1))
    upper = torch.min(up2 + const + rad + pad, torch.stack([f.hi for f in forms], 1))
    if net.relu_output:
        zero = _zero_residual(pde, lo_tx)
        lower = torch.where((state == ZERO)[:, None], zero, lower)
        upper = torch.where((state == ZERO)[:, None], zero, upper)
    return ResidualBounds(lower, upper, state)


def _zero_residual(pde: PDE, like: Tensor) -> Tensor:
    """The residual where u ≡ 0 (every derivative symbol zero): the PDE's constant terms.
    Terms reading t or x are not constant, so a PDE with such terms is rejected here."""
    if any(s in ("t", "x") for comp in pde.residual_terms for term in comp for s in term.symbols):
        raise NotImplementedError(f"{pde.name}: ReLU outputs with coordinate-dependent terms")
    zeros = {s: like.new_zeros(like.shape[0]) for s in symbols_of(pde)}
    return pde.residual(zeros).to(like)
