"""One hidden layer of the derivative network: its intervals and its relaxations.

The derivative network (forward mode, direction i, pair p = (i, j)) per hidden layer k:
    z  = W a_prev + b           a   = σ(z)
    dz = W da_prev              da  = σ'(z)·dz                         (dz_1 = W_1[:, i], constant)
    d2z = W d2a_prev            d2a = σ''(z)·(dz_i·dz_j) + σ'(z)·d2z   (d2z_1 = 0)
Keys name the chains: ('z',), ('dz', i), ('d2z', p). Given the intervals of a layer's
pre-activation chains, `make_layer` relaxes every nonlinear piece by lines in its inputs: σ, σ',
σ'' of z (activations.py) and the products by shared-slope planes (products.py); it also gives
the post-activation intervals, from which `ibp_pre` does interval arithmetic for the next layer.
"""
from __future__ import annotations

from dataclasses import dataclass
import torch

from workbench.bounds.sets import rounding_slack

from . import activations as act
from .activations import Lines, _down, _up
from .products import Plane, mccormick, mul_interval, square, square_interval

Tensor = torch.Tensor
Interval = tuple[Tensor, Tensor]
Key = tuple
Pair = tuple[int, int]


@dataclass
class Layer:
    """One hidden layer's intervals (pre-activation) and relaxations (post-activation), [N, n]."""
    pre: dict[Key, Interval]        # ('z',), ('dz', i), ('d2z', p)
    post: dict[Key, Interval]       # the same keys: a, da_i, d2a_p
    act: Lines
    g: Lines | None
    h: Lines | None
    first: dict[int, Plane]         # da_i = g·dz_i             (a = g, b = dz_i)
    prod: dict[Pair, Plane]         # s_p = dz_i·dz_j           (a = dz_i, b = dz_j or none)
    second: dict[Pair, tuple[Plane, Plane]]   # d2a_p = h·s_p + g·d2z_p

    def to(self, dtype: torch.dtype) -> "Layer":
        """The relaxations in a working dtype (soundly rounded; see Lines.to and Plane.to)."""
        if dtype == self.act.kl.dtype:
            return self
        cast = {key: (_down(lo, dtype), _up(up, dtype)) for key, (lo, up) in self.pre.items()}
        return Layer(cast, {}, self.act.to(dtype), self.g and self.g.to(dtype), self.h and self.h.to(dtype),
                     {i: p.to(dtype) for i, p in self.first.items()}, {p: q.to(dtype) for p, q in self.prod.items()},
                     {p: (a.to(dtype), b.to(dtype)) for p, (a, b) in self.second.items()})


def _add_intervals(x: Interval, y: Interval) -> Interval:
    return _down(x[0].double() + y[0].double(), x[0].dtype), _up(x[1].double() + y[1].double(), x[1].dtype)


def make_layer(pre: dict[Key, Interval], dirs: list[int], pairs: list[Pair]) -> Layer:
    """Relaxations and post-activation intervals from the pre-activation intervals, all float64
    (`Layer.to` gives the working-dtype copy the backward passes use)."""
    pre = {key: (lo.double(), up.double()) for key, (lo, up) in pre.items()}
    zl, zu = pre[("z",)]
    gi = act.interval(1, zl, zu) if dirs else None
    hi = act.interval(2, zl, zu) if pairs else None
    post: dict[Key, Interval] = {("z",): act.interval(0, zl, zu)}
    first, prod, second = {}, {}, {}
    for i in dirs:
        first[i] = mccormick(*gi, *pre[("dz", i)])
        post[("dz", i)] = mul_interval(*gi, *pre[("dz", i)])
    for p in pairs:
        i, j = p
        di, dj = pre[("dz", i)], pre[("dz", j)]
        prod[p], si = (square(*di), square_interval(*di)) if i == j else (mccormick(*di, *dj),
                                                                          mul_interval(*di, *dj))
        second[p] = (mccormick(*hi, *si), mccormick(*gi, *pre[("d2z", p)]))
        post[("d2z", p)] = _add_intervals(mul_interval(*hi, *si), mul_interval(*gi, *pre[("d2z", p)]))
    return Layer(pre, post, act.relax(0, zl, zu), act.relax(1, zl, zu) if dirs else None,
                 act.relax(2, zl, zu) if pairs else None, first, prod, second)


def linear_interval(W: Tensor, b: Tensor | None, lo: Tensor, up: Tensor) -> Interval:
    """Interval of W·v + b for v in [lo, up] (rows [N, n_in]), rounded outwards."""
    mid, rad = (lo + up) / 2, (up - lo) / 2
    center, radius = mid @ W.T, rad @ W.abs().T
    magnitude = (mid.abs() + rad) @ W.abs().T
    if b is not None:
        center, magnitude = center + b, magnitude + b.abs()
    radius = radius + rounding_slack(magnitude, W.shape[1])
    return center - radius, center + radius


def ibp_pre(layer: Layer, W: Tensor, b: Tensor) -> dict[Key, Interval]:
    """Interval arithmetic for the next layer's pre-activation chains."""
    return {key: linear_interval(W, b if key == ("z",) else None, *iv) for key, iv in layer.post.items()}


