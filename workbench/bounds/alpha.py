"""alpha-CROWN (Xu et al. 2021): optimise the relaxation lines of every activation, per spec row.

Any slope gives a sound line (relaxations.py computes the tightest valid intercept for it), so
the optimiser is free to move the lines; the best bound seen for each spec row is kept, which
makes the result never looser than CROWN (whose bound is the starting point).

Only lines that can improve are optimised, each in the parametrisation where Adam's steps of
about ``lr`` are meaningful (Adam moves every parameter by ~lr on its first step, whatever the
gradient's size, so a parameter that should not move must not exist):

* ReLU / leaky ReLU: only the lower slope of unstable neurons, in [neg, 1] (the upper line stays
  the chord, which is the concave envelope; stable neurons are exact and carry no parameter).
  A leaky ReLU with neg > 1 is concave: there the upper slope moves, in [1, neg].
* tanh / sigmoid / softplus: each optimisable line is the tangent at a point d (slope f'(d), the
  exact intercept), d restricted to the tangent points that touch f's convex (lower line) or
  concave (upper line) envelope on [l, u] (relaxations.tangent_ranges); lines that already are
  the envelope (the chord) stay fixed. The parameter is d measured in units of min(range width,
  f's curvature scale): on narrow ranges Adam's steps move d by ~lr of the range, on wide ones by
  ~lr·scale (as auto_LiRPA's raw tangent points do), either way a step that changes the slope
  by a fair share of what is possible and no more.

Parameters live only for the (batch element, neuron) pairs that optimise a line (a compact
[pairs, rows] tensor per line) and are scattered into the full relaxation for each backward pass.
"""
from __future__ import annotations

import torch

from ..nets.graph import Graph
from ..runtime import CancelledFn, ProgressFn, check_cancelled, never_cancelled, no_progress
from .crown import Interval, Relaxation, backward, ibp_spec, intermediate_bounds, output_spec
from .relaxations import ACTIVATIONS, intercept, tangent_line, tangent_ranges
from .sets import InputSet

Tensor = torch.Tensor


class _Line:
    """One optimised line (the lower or the upper) of one activation node, for the (batch element,
    neuron) pairs ``where`` = (b, n) that optimise it: ``param`` [pairs, rows] is the leaf Adam
    moves, one value per pair and spec row, kept in [low, high]. Every other neuron keeps CROWN's
    line. ``lo``/``up`` [pairs, 1]: the pairs' input bounds; ``index``: where the pairs' values go
    in a flat [B, rows, n] tensor."""

    def __init__(self, side: str, where: tuple[Tensor, Tensor], lo: Tensor, up: Tensor, init: Tensor,
                 rows: int, low: float, high: float | Tensor):
        self.side = side
        self.lo, self.up = lo[where].unsqueeze(1), up[where].unsqueeze(1)
        self.param = init.unsqueeze(1).expand(-1, rows).clone().requires_grad_(True)
        self.low, self.high = low, high
        b, n = where
        size = lo.shape[1]
        self.index = ((b * (rows * size) + n).unsqueeze(1) + torch.arange(rows, device=n.device) * size).view(-1)

    def clamp_(self) -> None:
        p = self.param.data
        if torch.is_tensor(self.high):
            torch.minimum(p.clamp_(min=self.low), self.high, out=p)
        else:
            p.clamp_(self.low, self.high)


class _Node:
    """The optimisable relaxation of one activation node: CROWN's relaxation ``base`` [B, 1, *shape]
    with some of its lines replaced by optimised ones, per spec row."""

    def __init__(self, op: str, params: dict, lo: Tensor, up: Tensor, base: Relaxation, rows: int):
        self.op, self.params, self.base, self.rows = op, params, base, rows
        self.shape = lo.shape[2:]
        B = lo.shape[0]
        self.n = lo[0].numel()
        flat = lambda t: t.reshape(B, -1)  # noqa: E731
        self.lo, self.up = flat(lo), flat(up)
        self.lines: list[_Line] = []
        self.tangents: dict[str, tuple[Tensor, Tensor]] = {}   # side -> (start, unit) [pairs, 1]

        act = ACTIVATIONS[op]
        if act.shape == "relu":
            neg = float(params.get("alpha", 0.0))
            # The line through the kink (slope between the two pieces' slopes) is the optimisable
            # one: the lower line when f is convex (neg <= 1), the upper one otherwise. Stable
            # neurons are exact and get no parameter.
            side = "lower" if neg <= 1 else "upper"
            where = flat((lo < 0) & (up > 0)).nonzero(as_tuple=True)
            # ReLU's lower line k·x + b with b <= 0 (CROWN's: 0) is valid for every k in [0, 1].
            self.keep_icpt = op == "relu" and bool((flat(base.icpt_lo.expand_as(lo))[where] <= 0).all())
            if where[0].numel():
                start = flat((base.slope_lo if side == "lower" else base.slope_up).expand_as(lo))
                self.lines.append(_Line(side, where, self.lo, self.up, start[where], rows,
                                        min(neg, 1.0), max(neg, 1.0)))
            return
        for side, rng in zip(("lower", "upper"), tangent_ranges(op, params, lo, up)):
            where = flat(rng.free).nonzero(as_tuple=True) if rng is not None else (None,)
            if rng is None or where[0].numel() == 0:
                continue
            pick = lambda t: flat(t)[where].unsqueeze(1)  # noqa: E731
            start, width = pick(rng.start), pick(rng.end - rng.start)   # width > 0 where free
            unit = width.clamp(max=act.scale)
            self.tangents[side] = (start, unit)
            high = width / unit
            init = torch.minimum(((pick(rng.init) - start) / unit).clamp(min=0), high).squeeze(1)
            self.lines.append(_Line(side, where, self.lo, self.up, init, rows, 0.0, high))

    @property
    def parameters(self) -> list[Tensor]:
        return [line.param for line in self.lines]

    def _line(self, line: _Line) -> tuple[Tensor, Tensor | None]:
        """Slopes [pairs, rows] of the optimised line and its intercepts (None: CROWN's)."""
        if ACTIVATIONS[self.op].shape == "relu":
            if self.keep_icpt:   # through the kink: CROWN's intercept (0) is exact for every slope
                return line.param, None
            return line.param, intercept(self.op, self.params, line.lo, line.up, line.param, line.side)
        start, unit = self.tangents[line.side]
        return tangent_line(self.op, self.params, line.lo, line.up, start + line.param * unit, line.side)

    def relaxation(self) -> Relaxation:
        B, R, n = self.lo.shape[0], self.rows, self.n
        full = {"slope_lo": self.base.slope_lo, "icpt_lo": self.base.icpt_lo,
                "slope_up": self.base.slope_up, "icpt_up": self.base.icpt_up}
        per_row = False
        for line in self.lines:
            k, b = self._line(line)
            suffix = "lo" if line.side == "lower" else "up"
            for name, values in [("slope_" + suffix, k)] + ([("icpt_" + suffix, b)] if b is not None else []):
                target = full[name].reshape(B, 1, n).expand(B, R, n).contiguous()
                full[name] = target.view(-1).scatter_(0, line.index, values.reshape(-1)).view(B, R, n)
                per_row |= name.startswith("icpt")
        if per_row:   # crown.backward wants both intercepts shared by all rows, or neither
            full["icpt_lo"] = full["icpt_lo"].reshape(B, -1, n).expand(B, R, n)
            full["icpt_up"] = full["icpt_up"].reshape(B, -1, n).expand(B, R, n)
        return Relaxation(**{name: t.reshape(B, t.shape[1], *self.shape) for name, t in full.items()})


def alpha_crown(graph: Graph, inputs: InputSet, C: Tensor | None = None, *, iterations: int = 20,
                lr: float = 0.1, progress: ProgressFn = no_progress, cancelled: CancelledFn = never_cancelled
                ) -> Interval:
    """alpha-CROWN bounds [B, S] of C·output (lower and upper both optimised): ``iterations``
    Adam steps at rate ``lr`` on the lines' parameters, the best bound per spec row kept."""
    bounds, relax = intermediate_bounds(graph, inputs)
    spec = output_spec(graph, C, inputs.batch)
    S = spec.shape[1]
    A0 = torch.cat([spec, -spec], 1)

    with torch.no_grad():
        A_in, bias = backward(graph, graph.output, A0, relax)
        best = inputs.concretize(A_in, bias)

    # Lower and upper bounds of the spec are separate rows of A0, so they get their own lines too.
    nodes: dict[int, _Node] = {}
    for i, r in relax.items():
        node = graph.nodes[i]
        lo, up = (b.unsqueeze(1) for b in bounds[node.inputs[0]])
        opt = _Node(node.op, node.params, lo, up, r, 2 * S)
        if opt.lines:
            nodes[i] = opt
    parameters = [p for opt in nodes.values() for p in opt.parameters]

    def bound() -> Tensor:
        current = {**relax, **{i: opt.relaxation() for i, opt in nodes.items()}}
        A_in, bias = backward(graph, graph.output, A0, current)
        return inputs.concretize(A_in, bias)

    if parameters:
        optimiser = torch.optim.Adam(parameters, lr=lr)
        for step in range(iterations):
            check_cancelled(cancelled)
            with torch.enable_grad():
                value = bound()
                optimiser.zero_grad(set_to_none=True)
                (-value.sum()).backward()
            best = torch.max(best, torch.nan_to_num(value.detach(), nan=-torch.inf))
            optimiser.step()
            for opt in nodes.values():
                for line in opt.lines:
                    line.clamp_()
            progress((step + 1) / max(iterations, 1), f"alpha-CROWN step {step + 1}/{iterations}")
        with torch.no_grad():
            best = torch.max(best, torch.nan_to_num(bound(), nan=-torch.inf))
    else:   # every relaxation is exact or already the best line there is: CROWN's bound it is
        progress(1.0, "alpha-CROWN: nothing to optimise")
    ibp_lo, ibp_up = ibp_spec(graph, bounds, spec)
    return torch.max(best[:, :S], ibp_lo), torch.min(-best[:, S:], ibp_up)
