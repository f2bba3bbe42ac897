"""The entry points: bounds of u and its derivatives over batches of input boxes.

`derivative_bounds` is the simple one (each derivative on its own). `prepare` + `bound_spec`
is for the residual layer: after one `prepare` per batch of boxes, `bound_spec` bounds any
per-box linear combination of u, u_t, u_x, u_xx, ... in a single backward pass, which is
tighter than adding separately bounded terms (the relaxations then follow the combined signs).
A product such as u·u_x enters as its McCormick plane (products.mccormick on the intervals of
u and u_x): slopes into the spec, the constant ± radius added after (see the Burgers test).
Callers of `prepare`/`bound_spec` wrap them in ``torch.no_grad()`` unless they want gradients.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import torch

from workbench.bounds.sets import rounding_slack
from workbench.nets.graph import Graph
from workbench.runtime import sound_math

from .backward import backward, refine
from .forward import concretize, first_chains, next_chains
from .layer import Interval, Key, Layer, Pair, ibp_pre, linear_interval, make_layer
from .mlp import TanhMLP, parse_orders, tanh_mlp

Tensor = torch.Tensor
Method = Literal["crown", "forward", "interval"]
# Boxes per chunk: the intermediate passes hold a few [chunk, 2·n·chains, n] tensors.
DEFAULT_CHUNK = {"cpu": 256, "cuda": 16384}


@dataclass
class Prepared:
    """A batch of boxes with every hidden layer's intervals and relaxations (all float64)."""
    mlp: TanhMLP
    lower: Tensor
    upper: Tensor
    layers: list[Layer]
    dirs: list[int]
    pairs: list[Pair]
    exact: dict            # layer 1's chains as exact linear functions of x (see forward.first_chains)


def _key(k: tuple[int, ...]) -> Key:
    return ("z",) if not k else ("dz", k[0]) if len(k) == 1 else ("d2z", k)


def _first_pre(mlp: TanhMLP, lower: Tensor, upper: Tensor, dirs: list[int], pairs: list[Pair]
               ) -> dict[Key, Interval]:
    """Layer 1 is exact: an affine map of the box; its derivatives are constants."""
    W, b = mlp.weights[0], mlp.biases[0]
    pre: dict[Key, Interval] = {("z",): linear_interval(W, b, lower, upper)}
    for i in dirs:
        c = W[:, i].expand(lower.shape[0], -1)
        pre[("dz", i)] = (c, c)
    for p in pairs:
        zero = lower.new_zeros(lower.shape[0], W.shape[0])
        pre[("d2z", p)] = (zero, zero)
    return pre


def prepare(mlp: TanhMLP, lower: Tensor, upper: Tensor, dirs: Sequence[int], pairs: Sequence[Pair],
            method: Method = "crown", dtype: torch.dtype = torch.float32) -> Prepared:
    """Bounds and relaxations of every hidden layer for boxes [lower, upper] [N, d]; `pairs`
    are sorted index pairs (i <= j) and every index of a pair must be in `dirs`.

    Intervals and relaxations are float64. Only the intermediate backward passes ("crown"), the
    bulk of the work, run in `dtype`: their rounding slack widens hidden-layer intervals a
    little, while the output pass (`bound_spec`, always float64) is where it would show."""
    with sound_math():
        return _prepare(mlp, lower, upper, sorted(set(dirs) | {i for p in pairs for i in p}), sorted(set(pairs)),
                        method, dtype)


def _prepare(mlp: TanhMLP, lower: Tensor, upper: Tensor, dirs: list[int], pairs: list[Pair],
             method: Method, dtype: torch.dtype) -> Prepared:
    mlp64, lo64, up64 = mlp.to(lower.device, torch.float64), lower.double(), upper.double()
    work, lo_w, up_w = mlp64.to(dtype=dtype), lower.to(dtype), upper.to(dtype)
    chains = [first_chains(mlp64.weights[0], mlp64.biases[0], lower.shape[0], dirs, pairs)]
    exact_w = first_chains(work.weights[0], work.biases[0], lower.shape[0], dirs, pairs)
    layers: list[Layer] = []
    layers_w: list[Layer] = []
    for k in range(len(mlp.weights) - 1):
        W, b = mlp64.weights[k], mlp64.biases[k]
        if k == 0:
            pre = _first_pre(mlp64, lo64, up64, dirs, pairs)
        else:
            pre = ibp_pre(layers[-1], W, b)
            if method == "forward":
                chains.append(next_chains(layers[-1], chains[-1], W, b))
                for key, f in chains[-1].items():
                    lo, up = concretize(f, lo64, up64)
                    pre[key] = (torch.max(lo, pre[key][0]), torch.min(up, pre[key][1]))
            elif method == "crown":
                for key, (lo, up) in refine(work, layers_w, k, lo_w, up_w, exact_w).items():
                    pre[key] = (torch.max(lo.double(), pre[key][0]), torch.min(up.double(), pre[key][1]))
        layers.append(make_layer(pre, dirs, pairs))
        if method == "crown":
            layers_w.append(layers[-1].to(dtype))
    return Prepared(mlp64, lo64, up64, layers, dirs, pairs, chains[0])


def bound_spec(prep: Prepared, spec: dict[tuple[int, ...], Tensor], method: Method = "crown"
               ) -> tuple[Tensor, Tensor]:
    """Lower and upper bounds [N, S] of Σ_k spec[k]·(∂^k u) over each box, where k is a
    derivative index tuple as from `parse_orders` and spec[k] is [S, n_out] or [N, S, n_out]."""
    missing = [k for k in spec if (len(k) == 1 and k[0] not in prep.dirs) or (len(k) == 2 and k not in prep.pairs)]
    if missing:
        raise ValueError(f"derivatives {missing} were not prepared (dirs {prep.dirs}, pairs {prep.pairs})")
    with sound_math():
        return _bound_spec(prep, {_key(k): (c if c.dim() == 3 else c.unsqueeze(0)).to(prep.lower)
                                  for k, c in spec.items()}, method)


def _bound_spec(prep: Prepared, C: dict[Key, Tensor], method: Method) -> tuple[Tensor, Tensor]:
    mlp, N = prep.mlp, prep.lower.shape[0]
    top = len(mlp.weights) - 1
    S = next(iter(C.values())).shape[1]
    if prep.layers:
        pre = ibp_pre(prep.layers[-1], mlp.weights[top], mlp.biases[top])
    else:
        pre = _first_pre(mlp, prep.lower, prep.upper, prep.dirs, prep.pairs)
    # Interval arithmetic on the spec (always sound; wins on wide boxes).
    ilo = prep.lower.new_zeros(N, S)
    iup, mag = torch.zeros_like(ilo), torch.zeros_like(ilo)
    for key, c in C.items():
        lo, up = pre[key]
        pos, neg = c.clamp(min=0), c.clamp(max=0)
        ilo = ilo + (pos @ lo.unsqueeze(-1) + neg @ up.unsqueeze(-1))[..., 0]
        iup = iup + (pos @ up.unsqueeze(-1) + neg @ lo.unsqueeze(-1))[..., 0]
        mag = mag + (c.abs() @ torch.max(lo.abs(), up.abs()).unsqueeze(-1))[..., 0]
    slack = rounding_slack(mag, mlp.n_outputs * len(C))
    ilo, iup = ilo - slack, iup + slack
    if method == "interval":
        return ilo, iup
    lam = {key: torch.cat([c, -c], 1).transpose(1, 2) for key, c in C.items()}
    slices = {key: (0, 2 * S) for key in [("z",), ("g",), ("h",)]
              + [("dz", i) for i in prep.dirs] + [(t, p) for p in prep.pairs for t in ("d2z", "s")]}
    if ("z",) not in lam:   # the z chain must reach every row (it carries the concretisation)
        lam[("z",)] = prep.lower.new_zeros(1, mlp.n_outputs, 2 * S)
    rows = backward(mlp, prep.layers, top, lam, slices, prep.lower.new_zeros(N, 2 * S), prep.lower, prep.upper,
                    prep.exact)
    return torch.max(rows[:, :S], ilo), torch.min(-rows[:, S:], iup)


def derivative_bounds(network: Graph | TanhMLP, lower: Tensor, upper: Tensor,
                      orders: Sequence[str] = ("u", "u_t", "u_x", "u_xx"),
                      variables: Sequence[str] = ("t", "x"), *, method: Method = "crown",
                      dtype: torch.dtype | None = None, chunk: int | None = None
                      ) -> dict[str, tuple[Tensor, Tensor]]:
    """Sound bounds of u and its derivatives over each box [lower, upper] ([N, d], raw input
    units, in the order `variables` names them): {name: (lo, up)}, each [N, n_outputs].

    Names are u, u_<v>, u_<v><w> (e.g. u_x, u_xx, u_tx). `method` "crown" is ∂-CROWN (linear
    bounds by backward passes, intersected with interval arithmetic); "forward" gets the
    hidden-layer bounds by forward-mode linear bounds instead (several times cheaper; nearly as
    tight on small boxes, much looser on wide ones); "interval" is interval arithmetic alone.

    Bounds are float64 tensors on lower's device, whatever the network's dtype: relaxations and
    the output pass always run in float64, and only the intermediate backward passes (the bulk
    of the work) in `dtype` (default float32). Their rounding slack costs a few per cent of
    width on 1e-4 boxes; `dtype=torch.float64` removes that at about 1.8x the CPU time. A
    float32 *output* pass would not do: its slack, on the large terms behind u_xx, dominates
    the width of small boxes. Boxes go through in chunks of `chunk`."""
    mlp = network if isinstance(network, TanhMLP) else tanh_mlp(network)
    dtype = dtype or torch.float32
    if lower.dim() != 2 or lower.shape != upper.shape or lower.shape[1] != mlp.n_inputs:
        raise ValueError(f"boxes must be [N, {mlp.n_inputs}] lower/upper pairs, got {tuple(lower.shape)}"
                         f" and {tuple(upper.shape)}")
    if len(variables) != mlp.n_inputs:
        raise ValueError(f"the network has {mlp.n_inputs} inputs but {len(variables)} variable names")
    if bool((lower > upper).any()):
        raise ValueError("a box has a lower bound above its upper bound")
    keys = parse_orders(orders, variables)
    mlp = mlp.to(lower.device, torch.float64)
    lower, upper = lower.double(), upper.double()
    n_out, S = mlp.n_outputs, len(orders) * mlp.n_outputs
    spec: dict[tuple[int, ...], Tensor] = {}
    for o, k in enumerate(keys):
        c = spec.setdefault(k, lower.new_zeros(S, n_out))
        c[o * n_out:(o + 1) * n_out] = torch.eye(n_out, dtype=torch.float64, device=lower.device)
    dirs = sorted({i for k in keys for i in k})
    pairs = sorted({k for k in keys if len(k) == 2})
    chunk = chunk or DEFAULT_CHUNK.get(lower.device.type, 4096)
    parts = []
    with torch.no_grad():
        for s in range(0, lower.shape[0], chunk):
            prep = prepare(mlp, lower[s:s + chunk], upper[s:s + chunk], dirs, pairs, method, dtype)
            parts.append(bound_spec(prep, spec, method))
    lo = torch.cat([p[0] for p in parts]) if parts else lower.new_zeros(0, S)
    up = torch.cat([p[1] for p in parts]) if parts else lower.new_zeros(0, S)
    return {name: (lo[:, o * n_out:(o + 1) * n_out], up[:, o * n_out:(o + 1) * n_out])
            for o, name in enumerate(orders)}
