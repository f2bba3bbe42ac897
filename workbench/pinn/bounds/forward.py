"""Forward-mode linear bounds for the hidden layers: the cheap way to the intermediate intervals.

With a 2-D (or other small) input, a linear function of x is just d + 1 numbers, so every chain
(z, dz_i, d2z_p) of every neuron can carry a lower and an upper linear function of x forward,
layer by layer, through the same relaxations the backward pass uses: cost O(layers·n²·d) per
box instead of the O(layers²·n³) of backward passes from every hidden neuron. The bounds are
looser (the gaps add up through |W| rather than through the signed products CROWN sees), so
`refine` (backward) stays available; the output itself is always bounded by a backward pass.

Run in float64: the tensors are small, and float64 makes the rounding slack negligible.
"""
from __future__ import annotations

import torch

from workbench.bounds.sets import rounding_slack

from .activations import Lines
from .products import Plane
from .layer import Interval, Key, Layer

Tensor = torch.Tensor
Lin = tuple[Tensor, Tensor]   # lower, upper linear functions [N, n, d + 1]; the last column is the constant


def first_chains(W: Tensor, b: Tensor, N: int, dirs: list[int], pairs: list) -> dict[Key, Lin]:
    """Layer 1's chains exactly: z = W x + b, dz_i = W[:, i], d2z = 0."""
    z = torch.cat([W, b[:, None]], 1).expand(N, -1, -1)
    chains: dict[Key, Lin] = {("z",): (z, z)}
    for i in dirs:
        c = torch.cat([torch.zeros_like(W), W[:, i:i + 1]], 1).expand(N, -1, -1)
        chains[("dz", i)] = (c, c)
    for p in pairs:
        zero = W.new_zeros(N, W.shape[0], W.shape[1] + 1)
        chains[("d2z", p)] = (zero, zero)
    return chains


def concretize(f: Lin, lower: Tensor, upper: Tensor) -> Interval:
    mid, rad = ((lower + upper) / 2).unsqueeze(1), ((upper - lower) / 2).unsqueeze(1)
    out = []
    for F in f:
        A, c = F[..., :-1], F[..., -1]
        center, spread = (A * mid).sum(-1) + c, (A.abs() * rad).sum(-1)
        # Generous (264 ulps of the magnitude): the chains' own float64 arithmetic is not tracked.
        slack = rounding_slack((A.abs() * (mid.abs() + rad)).sum(-1) + c.abs(), 4096)
        out.append((center, spread, slack))
    (c0, s0, e0), (c1, s1, e1) = out
    return c0 - s0 - e0, c1 + s1 + e1


def _pick(k: Tensor, f: Lin) -> Lin:
    """k·q for q between f's lower and upper function: bounds by the sign of k."""
    k = k.unsqueeze(-1)
    pos, neg = k.clamp(min=0), k.clamp(max=0)
    return pos * f[0] + neg * f[1], pos * f[1] + neg * f[0]


def _line(r: Lines, z: Lin) -> Lin:
    lo = _pick(r.kl, z)[0]
    up = _pick(r.ku, z)[1]
    lo[..., -1] += r.bl
    up[..., -1] += r.bu
    return lo, up


def _plane(P: Plane, a: Lin, b: Lin | None) -> Lin:
    lo, up = _pick(P.ka, a)
    if b is not None:
        blo, bup = _pick(P.kb, b)
        lo, up = lo + blo, up + bup
    lo[..., -1] += P.c_mid - P.c_rad
    up[..., -1] += P.c_mid + P.c_rad
    return lo, up


def _linear(W: Tensor, b: Tensor | None, f: Lin) -> Lin:
    Wp, Wn = W.clamp(min=0), W.clamp(max=0)
    lo, up = Wp @ f[0] + Wn @ f[1], Wp @ f[1] + Wn @ f[0]
    if b is not None:
        lo[..., -1] += b
        up[..., -1] += b
    return lo, up


def next_chains(layer: Layer, chains: dict[Key, Lin], W: Tensor, b: Tensor) -> dict[Key, Lin]:
    """The next layer's pre-activation chains from this layer's chains and relaxations."""
    z = chains[("z",)]
    out: dict[Key, Lin] = {("z",): _linear(W, b, _line(layer.act, z))}
    g = _line(layer.g, z) if layer.g is not None else None
    h = _line(layer.h, z) if layer.h is not None else None
    for key in chains:
        if key[0] == "dz":
            out[key] = _linear(W, None, _plane(layer.first[key[1]], g, chains[key]))
        elif key[0] == "d2z":
            i, j = key[1]
            s = _plane(layer.prod[key[1]], chains[("dz", i)], None if i == j else chains[("dz", j)])
            hs, gd = layer.second[key[1]]
            t1, t2 = _plane(hs, h, s), _plane(gd, g, chains[key])
            out[key] = _linear(W, None, (t1[0] + t2[0], t1[1] + t2[1]))
    return out
