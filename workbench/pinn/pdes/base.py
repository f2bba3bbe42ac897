"""The shape of a PDE problem: domain, residual as a sum of terms, initial and boundary conditions.

A problem is defined once, as data, and every consumer reads the same definition:

- training and empirical evaluation call :meth:`PDE.residual` (plain torch arithmetic on tensors
  of u, u_t, u_x, u_xx, ... that autograd produced), :meth:`InitialCondition.error` and
  :meth:`BoundaryCondition.error`;
- certification reads the *structure*: :attr:`PDE.residual_terms` is, per residual component,
  a tuple of :class:`Term` s ``coeff * f1 * f2 * ...`` whose factors are derivative symbols
  (``"u"``, ``"u_t"``, ``"u_x"``, ``"u_xx"``, ``"v"``, ..., and the coordinates ``"t"``, ``"x"``)
  or a named scalar function of one symbol (:class:`Func`, e.g. 1/R(u) in diffusion–sorption).
  A term with one symbol is linear, a term with several is a product to relax (McCormick), a
  :class:`Func` factor comes with the facts (monotone, concave, ...) a relaxation needs.

Coordinates are always named ``t`` and ``x``; a network's input order is separate data
(:attr:`PDE.input_order`, and every function that evaluates a network takes ``input_order``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

Tensor = torch.Tensor
DERIVATIVES = ("", "_t", "_x", "_xx")  # suffixes: value and the derivatives a residual may use


def symbols_for(outputs: Sequence[str]) -> tuple[str, ...]:
    """All symbols a residual over networks with these outputs may use (plus ``t`` and ``x``)."""
    return tuple(o + d for o in outputs for d in DERIVATIVES) + ("t", "x")


# -- residual terms --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Func:
    """A named elementwise function of one symbol, used as a factor of a residual term.

    ``fn`` is torch arithmetic (autograd-able, so a certifier can take tangents with autograd
    or use ``derivative``); ``properties`` states what a relaxation may rely on, e.g.
    ``{"domain": (0.0, inf), "increasing": True, "concave": True}`` on that domain.
    """

    name: str
    arg: str
    fn: Callable[[Tensor], Tensor] = field(compare=False, repr=False)
    formula: str = ""
    derivative: Callable[[Tensor], Tensor] | None = field(default=None, compare=False, repr=False)
    properties: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __call__(self, value: Tensor) -> Tensor:
        return self.fn(value)

    def as_tuple(self) -> tuple:
        return ("func", self.name, self.arg)

    def __str__(self) -> str:
        return self.formula or f"{self.name}({self.arg})"


@dataclass(frozen=True)
class Term:
    """``coeff * factors[0] * factors[1] * ...``; no factors is the constant ``coeff``."""

    coeff: float
    factors: tuple = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "coeff", float(self.coeff))
        object.__setattr__(self, "factors", tuple(self.factors))

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols the term reads (a Func's argument included), in order, with repeats."""
        return tuple(f.arg if isinstance(f, Func) else f for f in self.factors)

    @property
    def is_linear(self) -> bool:
        """A constant or ``coeff * symbol``: no product, no function."""
        return len(self.factors) <= 1 and not any(isinstance(f, Func) for f in self.factors)

    def evaluate(self, values: Mapping[str, Tensor]) -> Tensor | float:
        out: Tensor | float = self.coeff
        for f in self.factors:
            out = out * (f(values[f.arg]) if isinstance(f, Func) else values[f])
        return out

    def as_tuple(self) -> tuple:
        """``("const", c)``, ``("lin", c, "u_xx")`` or ``("mul", c, "u", "u_x")`` (a Func factor
        appears as ``("func", name, arg)``)."""
        if not self.factors:
            return ("const", self.coeff)
        parts = tuple(f.as_tuple() if isinstance(f, Func) else f for f in self.factors)
        if self.is_linear:
            return ("lin", self.coeff, parts[0])
        return ("mul", self.coeff) + parts

    def __str__(self) -> str:
        body = "·".join(str(f) for f in self.factors)
        if not body:
            return f"{self.coeff:g}"
        if self.coeff == 1.0:
            return body
        if self.coeff == -1.0:
            return "-" + body
        return f"{self.coeff:g}·{body}"


def terms_to_string(terms: Sequence[Term]) -> str:
    out = ""
    for i, term in enumerate(terms):
        s = str(term)
        if i == 0:
            out = s
        elif s.startswith("-"):
            out += " - " + s[1:]
        else:
            out += " + " + s
    return out + " = 0"


# -- initial and boundary conditions ---------------------------------------------------------------
@dataclass(frozen=True)
class InitialCondition:
    """``outputs(t0, x) = fn(x)``; ``fn`` maps x [N] to [N, n_outputs] with torch arithmetic.

    ``curvature`` bounds |fn''| over the spatial domain (every output): certification encloses
    fn on a segment by its tangent at the centre ± curvature·r²/2, so it must be a true bound."""

    fn: Callable[[Tensor], Tensor] = field(repr=False)
    formula: str = ""
    curvature: float | None = None

    def __call__(self, x: Tensor) -> Tensor:
        return self.fn(x)

    def error(self, values: Mapping[str, Tensor], outputs: Sequence[str], x: Tensor) -> Tensor:
        """Pointwise error ``network - g`` at t = t0, shape [N, n_outputs]."""
        u = torch.stack([values[o] for o in outputs], dim=-1)
        return u - self.fn(x).to(u)


@dataclass(frozen=True)
class BoundaryCondition:
    """One boundary condition on the spatial ends ``x = x_lo`` ("left") / ``x = x_hi`` ("right").

    - ``dirichlet``: u(t, x_side) = g(t);
    - ``robin``:     alpha·u(t, x_side) + beta·u_x(t, x_side) = g(t);
    - ``periodic``:  d^k u/dx^k (t, x_lo) = d^k u/dx^k (t, x_hi) with k = ``order`` (0 or 1);
      ``side`` is "both".

    ``g`` maps t [N] to [N, n_outputs] (None: zero). The condition is checked for
    t in [max(t_lo, t_min), t_hi] (``t_min`` skips an initial-boundary jump, as in diffusion–sorption).
    ``curvature`` bounds |g''| over that time range (0 when g is None or constant), as for
    :class:`InitialCondition`.
    """

    kind: str
    side: str
    name: str
    g: Callable[[Tensor], Tensor] | None = field(default=None, repr=False)
    alpha: float = 1.0
    beta: float = 0.0
    order: int = 0
    t_min: float | None = None
    formula: str = ""
    curvature: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("dirichlet", "robin", "periodic"):
            raise ValueError(f"unknown boundary condition kind {self.kind!r}")
        want = ("both",) if self.kind == "periodic" else ("left", "right")
        if self.side not in want:
            raise ValueError(f"a {self.kind} condition needs side in {want}, not {self.side!r}")
        if self.kind == "periodic" and self.order not in (0, 1):
            raise ValueError("periodic conditions of order 0 (values) or 1 (first x-derivatives)")

    @property
    def needs(self) -> tuple[str, ...]:
        """Derivative suffixes the condition reads ("" for the value, "_x" for u_x)."""
        if self.kind == "dirichlet":
            return ("",)
        if self.kind == "robin":
            return ("",) if self.beta == 0 else ("", "_x")
        return ("",) if self.order == 0 else ("_x",)

    def target(self, t: Tensor, n_outputs: int) -> Tensor:
        if self.g is None:
            return torch.zeros(t.shape[0], n_outputs, dtype=t.dtype, device=t.device)
        return self.g(t).to(t)

    def error(self, t: Tensor, left: Mapping[str, Tensor], right: Mapping[str, Tensor],
              outputs: Sequence[str]) -> Tensor:
        """Pointwise error, shape [N, n_outputs]. ``left``/``right`` hold the symbols (``u``,
        ``u_x``, ...) at (t, x_lo) and (t, x_hi); a one-sided condition reads only its side."""
        def stack(values, suffix):
            return torch.stack([values[o + suffix] for o in outputs], dim=-1)

        if self.kind == "periodic":
            suffix = "" if self.order == 0 else "_x"
            return stack(left, suffix) - stack(right, suffix)
        side = left if self.side == "left" else right
        lhs = self.alpha * stack(side, "")
        if self.kind == "robin" and self.beta != 0:
            lhs = lhs + self.beta * stack(side, "_x")
        return lhs - self.target(t, len(outputs))


# -- the problem -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PDE:
    """A 1-D (t, x) problem for a network with ``outputs`` (``("u",)`` or ``("u", "v")``).

    ``residual_terms[k]`` is the k-th residual component as a sum of :class:`Term` s. Pointwise
    errors of several components (or outputs) are combined by the Euclidean norm, so for
    Schrödinger |f| = sqrt(f_u² + f_v²) (its square is the paper's reported quantity).
    """

    name: str
    title: str
    outputs: tuple[str, ...]
    t_range: tuple[float, float]
    x_range: tuple[float, float]
    residual_terms: tuple[tuple[Term, ...], ...]
    initial: InitialCondition
    boundary: tuple[BoundaryCondition, ...]
    input_order: tuple[str, str] = ("t", "x")
    parameters: Mapping[str, float] = field(default_factory=dict)
    # How the published/reference networks produce the outputs from the last layer: None, or
    # "relu" (diffusion–sorption: u = ReLU(N), so u >= 0 and 1/R(u) is defined).
    output_activation: str | None = None
    reference: str = ""  # a one-line description of the reference solver
    notes: str = ""

    def __post_init__(self) -> None:
        allowed = set(symbols_for(self.outputs))
        for component in self.residual_terms:
            for term in component:
                bad = [s for s in term.symbols if s not in allowed]
                if bad:
                    raise ValueError(f"{self.name}: unknown symbols {bad} in a residual term")
        if sorted(self.input_order) != ["t", "x"]:
            raise ValueError(f"{self.name}: input_order must be a permutation of ('t', 'x')")

    # -- domain --
    @property
    def n_outputs(self) -> int:
        return len(self.outputs)

    @property
    def domain(self) -> dict[str, tuple[float, float]]:
        return {"t": tuple(self.t_range), "x": tuple(self.x_range)}

    def bounds(self, input_order: Sequence[str] | None = None) -> tuple[list[float], list[float]]:
        """(lower, upper) of the domain box in a network's input order."""
        order = tuple(input_order or self.input_order)
        d = self.domain
        return [d[k][0] for k in order], [d[k][1] for k in order]

    # -- residual --
    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols the residual reads (sorted by output, then derivative order)."""
        used = {s for comp in self.residual_terms for term in comp for s in term.symbols}
        return tuple(s for s in symbols_for(self.outputs) if s in used)

    def residual(self, values: Mapping[str, Tensor] | None = None, **kw: Tensor) -> Tensor:
        """The residual components, shape [N, n_components], by plain tensor arithmetic.

        Pass the symbols as a mapping or keywords: ``pde.residual(u=u, u_t=u_t, u_x=u_x,
        u_xx=u_xx)`` (``t`` and ``x`` only where a term reads them)."""
        vals = dict(values or {}, **kw)
        comps = []
        ref = next(v for v in vals.values() if isinstance(v, Tensor))
        for component in self.residual_terms:
            total: Tensor | float = 0.0
            for term in component:
                total = total + term.evaluate(vals)
            comps.append(total if isinstance(total, Tensor) else torch.full_like(ref, total))
        return torch.stack(comps, dim=-1)

    def residual_expression(self) -> list[list[tuple]]:
        """The residual's structure as plain tuples, one list of terms per component."""
        return [[t.as_tuple() for t in comp] for comp in self.residual_terms]

    def residual_string(self) -> str:
        return "; ".join(terms_to_string(c) for c in self.residual_terms)

    def products(self) -> list[tuple]:
        """The nonlinear terms (products and functions) a certifier must relax."""
        return [t.as_tuple() for comp in self.residual_terms for t in comp if not t.is_linear]

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary (for manifests, reports and the CLI)."""
        return {
            "name": self.name, "title": self.title, "outputs": list(self.outputs),
            "domain": {k: list(v) for k, v in self.domain.items()},
            "input_order": list(self.input_order),
            "residual": self.residual_string(),
            "initial_condition": self.initial.formula,
            "boundary_conditions": [
                {"name": bc.name, "kind": bc.kind, "side": bc.side, "formula": bc.formula,
                 **({"t_min": bc.t_min} if bc.t_min is not None else {})} for bc in self.boundary],
            "parameters": dict(self.parameters),
            "output_activation": self.output_activation,
        }


def pointwise_norm(err: Tensor) -> Tensor:
    """|err| over the last dimension (abs for one component, Euclidean for several)."""
    return err.abs()[..., 0] if err.shape[-1] == 1 else torch.linalg.vector_norm(err, dim=-1)

