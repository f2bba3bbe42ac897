"""The PDE problems: Burgers, diffusion–sorption, Allen–Cahn, Schrödinger, heat and advection.

Sources (see ``../shared/notes/pinn.md`` §2): the residuals as certified in Eiras et al. (ICML 2024)
and its reference code; diffusion–sorption constants from PDEBench (Takamoto et al. 2022);
Allen–Cahn and Schrödinger as in Raissi et al. (JCP 2019). Heat and advection are the project's
linear problems (no products).
"""
from __future__ import annotations

import math

import torch

from workbench.pinn.pdes.base import PDE, BoundaryCondition, Func, InitialCondition, Term

PI = math.pi


def _col(*columns: torch.Tensor) -> torch.Tensor:
    return torch.stack(columns, dim=-1)


# -- Burgers ---------------------------------------------------------------------------------------
BURGERS_NU = 0.01 / PI


def burgers() -> PDE:
    nu = BURGERS_NU
    return PDE(
        name="burgers", title="Burgers (viscous, shock at x = 0)", outputs=("u",),
        t_range=(0.0, 1.0), x_range=(-1.0, 1.0),
        residual_terms=((Term(1, ("u_t",)), Term(1, ("u", "u_x")), Term(-nu, ("u_xx",))),),
        initial=InitialCondition(lambda x: _col(-torch.sin(PI * x)), "u(0, x) = -sin(πx)", curvature=PI ** 2),
        boundary=(BoundaryCondition("dirichlet", "left", "x=-1", formula="u(t, -1) = 0"),
                  BoundaryCondition("dirichlet", "right", "x=+1", formula="u(t, 1) = 0")),
        input_order=("t", "x"), parameters={"nu": nu},
        reference="Cole–Hopf quadrature (exact up to ~1e-8); method of lines as a cross-check",
        notes="ν = 0.01/π as in Raissi et al. and the ∂-CROWN paper; max |u_x| = 152.005 at "
              "t ≈ 0.5105, x = 0 (Basdevant et al. 1986).")


# -- diffusion–sorption (PDEBench) -----------------------------------------------------------------
DS_D = 5e-4
DS_POROSITY = 0.29
DS_RHO_S = 2880.0
DS_K_F = 3.5e-4
DS_N_F = 0.874
DS_EPS = 1e-6
DS_PREFACTOR = (1 - DS_POROSITY) / DS_POROSITY * DS_RHO_S * DS_K_F * DS_N_F  # 2.15691


def retardation(u: torch.Tensor) -> torch.Tensor:
    """R(u) = 1 + ((1-φ)/φ)·ρ_s·k_f·n_f·(u + 1e-6)^(n_f - 1), evaluated at max(u, 0)."""
    return 1 + DS_PREFACTOR * (u.clamp_min(0) + DS_EPS) ** (DS_N_F - 1)


def inv_retardation(u: torch.Tensor) -> torch.Tensor:
    """1/R(u): with w = (u+ε)^(n_f-1) it is 1/(1 + c·w); on u >= 0 concave and increasing."""
    return 1 / retardation(u)


def inv_retardation_derivative(u: torch.Tensor) -> torch.Tensor:
    """d(1/R)/du on u > 0 (0 where the max(u, 0) clamp is active)."""
    w = (u.clamp_min(0) + DS_EPS) ** (DS_N_F - 1)
    r = 1 + DS_PREFACTOR * w
    dw = (DS_N_F - 1) * w / (u.clamp_min(0) + DS_EPS)
    return torch.where(u > 0, -DS_PREFACTOR * dw / r ** 2, torch.zeros_like(u))


INV_R = Func("inv_R", "u", inv_retardation, formula="1/R(u)", derivative=inv_retardation_derivative,
             properties={"domain": (0.0, math.inf), "increasing": True, "concave": True,
                         "range_on_0_1": (1 / (1 + DS_PREFACTOR * DS_EPS ** (DS_N_F - 1)),
                                          1 / (1 + DS_PREFACTOR * (1 + DS_EPS) ** (DS_N_F - 1))),
                         "negative_inputs": "evaluated at max(u, 0); with u = ReLU(N) never used"})


def diffusion_sorption() -> PDE:
    d = DS_D
    return PDE(
        name="diffusion_sorption", title="Diffusion–sorption (PDEBench)", outputs=("u",),
        t_range=(0.0, 500.0), x_range=(0.0, 1.0),
        residual_terms=((Term(1, ("u_t",)), Term(-d, (INV_R, "u_xx"))),),
        initial=InitialCondition(lambda x: torch.zeros(x.shape[0], 1, dtype=x.dtype, device=x.device),
                                 "u(0, x) = 0", curvature=0.0),
        boundary=(
            BoundaryCondition("dirichlet", "left", "x=0", g=lambda t: torch.ones(t.shape[0], 1, dtype=t.dtype,
                                                                                   device=t.device),
                              t_min=1.0, formula="u(t, 0) = 1 (t >= 1)", curvature=0.0),
            BoundaryCondition("robin", "right", "x=1", alpha=1.0, beta=-d, t_min=1.0,
                              formula="u(t, 1) - D·u_x(t, 1) = 0 (t >= 1)")),
        input_order=("x", "t"),
        parameters={"D": d, "porosity": DS_POROSITY, "rho_s": DS_RHO_S, "k_f": DS_K_F, "n_f": DS_N_F,
                    "eps": DS_EPS, "prefactor": DS_PREFACTOR},
        output_activation="relu",
        reference="finite volumes (2048 cells) + BDF, face-centred Dirichlet and Robin ghost cells",
        notes="u_t = D/R(u)·u_xx. The reference networks output u = ReLU(N): the residual is "
              "classical only where N keeps one sign. IC (0) and left BC (1) disagree at (0, 0); "
              "the boundary conditions are checked for t >= 1 as in the paper.")


# -- Allen–Cahn --------------------------------------------------------------------------------------
AC_NU = 1e-4
AC_RHO = 5.0


def allen_cahn() -> PDE:
    return PDE(
        name="allen_cahn", title="Allen–Cahn", outputs=("u",),
        t_range=(0.0, 1.0), x_range=(-1.0, 1.0),
        residual_terms=((Term(1, ("u_t",)), Term(-AC_NU, ("u_xx",)), Term(AC_RHO, ("u", "u", "u")),
                         Term(-AC_RHO, ("u",))),),
        initial=InitialCondition(lambda x: _col(x ** 2 * torch.cos(PI * x)), "u(0, x) = x²·cos(πx)",
                                 # |2cos(πx) - 4πx·sin(πx) - π²x²·cos(πx)| on [-1, 1]
                                 curvature=2 + 4 * PI + PI ** 2),
        boundary=(BoundaryCondition("periodic", "both", "periodic u", order=0,
                                    formula="u(t, -1) = u(t, 1)"),
                  BoundaryCondition("periodic", "both", "periodic u_x", order=1,
                                    formula="u_x(t, -1) = u_x(t, 1)")),
        input_order=("x", "t"), parameters={"nu": AC_NU, "rho": AC_RHO},
        reference="Fourier pseudo-spectral (2048 modes) + ETDRK4",
        notes="The ∂-CROWN reference code checks only the periodicity of u, not of u_x.")


# -- Schrödinger (NLS) -------------------------------------------------------------------------------
def _sech(x: torch.Tensor) -> torch.Tensor:
    return 1 / torch.cosh(x)


def schrodinger() -> PDE:
    return PDE(
        name="schrodinger", title="Nonlinear Schrödinger (h = u + iv)", outputs=("u", "v"),
        t_range=(0.0, PI / 2), x_range=(-5.0, 5.0),
        residual_terms=(
            (Term(1, ("u_t",)), Term(0.5, ("v_xx",)), Term(1, ("u", "u", "v")), Term(1, ("v", "v", "v"))),
            (Term(1, ("v_t",)), Term(-0.5, ("u_xx",)), Term(-1, ("u", "u", "u")), Term(-1, ("v", "v", "u"))),
        ),
        initial=InitialCondition(lambda x: _col(2 * _sech(x), torch.zeros_like(x)),
                                 # (2·sech)'' = 2·sech·(tanh² - sech²), at most 2 in size
                                 "h(0, x) = 2·sech(x)", curvature=2.0),
        boundary=(BoundaryCondition("periodic", "both", "periodic h", order=0,
                                    formula="h(t, -5) = h(t, 5)"),
                  BoundaryCondition("periodic", "both", "periodic h_x", order=1,
                                    formula="h_x(t, -5) = h_x(t, 5)")),
        input_order=("t", "x"), parameters={},
        reference="split-step Fourier (Strang, 512 modes); schrodinger_reference.mat as a cross-check",
        notes="i·h_t + ½h_xx + |h|²h = 0 split into f_u = u_t + ½v_xx + (u²+v²)v and "
              "f_v = v_t - ½u_xx - (u²+v²)u; |f| = sqrt(f_u² + f_v²) (the paper squares it).")


# -- linear problems ------------------------------------------------------------------------------
HEAT_KAPPA = 0.1


def heat() -> PDE:
    k = HEAT_KAPPA
    return PDE(
        name="heat", title="Heat equation", outputs=("u",),
        t_range=(0.0, 1.0), x_range=(0.0, 1.0),
        residual_terms=((Term(1, ("u_t",)), Term(-k, ("u_xx",))),),
        initial=InitialCondition(lambda x: _col(torch.sin(PI * x)), "u(0, x) = sin(πx)", curvature=PI ** 2),
        boundary=(BoundaryCondition("dirichlet", "left", "x=0", formula="u(t, 0) = 0"),
                  BoundaryCondition("dirichlet", "right", "x=1", formula="u(t, 1) = 0")),
        input_order=("t", "x"), parameters={"kappa": k},
        reference="method of lines (second-order differences, BDF); exact e^(-κπ²t)·sin(πx)",
        notes="A project choice (not PDEBench or the paper): linear, u_xx but no product.")


def heat_exact(t, x, kappa: float = HEAT_KAPPA):
    """The heat problem's exact solution e^(-κπ²t)·sin(πx) (numpy or torch, broadcasting)."""
    lib = torch if isinstance(t, torch.Tensor) else __import__("numpy")
    return lib.exp(-kappa * PI ** 2 * t) * lib.sin(PI * x)


ADV_BETA = 0.4


def advection() -> PDE:
    b = ADV_BETA
    return PDE(
        name="advection", title="Linear advection (PDEBench β = 0.4)", outputs=("u",),
        t_range=(0.0, 2.0), x_range=(0.0, 1.0),
        residual_terms=((Term(1, ("u_t",)), Term(b, ("u_x",))),),
        initial=InitialCondition(lambda x: _col(torch.sin(2 * PI * x)), "u(0, x) = sin(2πx)",
                                 curvature=4 * PI ** 2),
        boundary=(BoundaryCondition("periodic", "both", "periodic u", order=0, formula="u(t, 0) = u(t, 1)"),),
        input_order=("t", "x"), parameters={"beta": b},
        reference="exact: u0((x - βt) mod 1)",
        notes="First derivatives only, entering linearly: no products.")


def advection_exact(t, x, beta: float = ADV_BETA):
    lib = torch if isinstance(t, torch.Tensor) else __import__("numpy")
    return lib.sin(2 * PI * ((x - beta * t) % 1.0))


FACTORIES = {
    "burgers": burgers,
    "diffusion_sorption": diffusion_sorption,
    "allen_cahn": allen_cahn,
    "schrodinger": schrodinger,
    "heat": heat,
    "advection": advection,
}
