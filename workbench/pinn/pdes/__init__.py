"""The PINN PDE library: problems defined once, reference solvers, empirical error maxima, training.

::

    from workbench.pinn.pdes import get_pde, empirical_max, relative_l2
    pde = get_pde("burgers")
    pde.residual(u=u, u_t=u_t, u_x=u_x, u_xx=u_xx)      # [N, 1], plain torch arithmetic
    pde.residual_expression()  # [[("lin", 1.0, "u_t"), ("mul", 1.0, "u", "u_x"), ("lin", -0.00318, "u_xx")]]
    empirical_max(graph, pde, n=10**6, seed=0).residual.value
    relative_l2(graph, pde)

Training (``workbench.pinn.pdes.train``) is imported on demand.
"""
from workbench.pinn.pdes.base import PDE, BoundaryCondition, Func, InitialCondition, Term, pointwise_norm
from workbench.pinn.pdes.empirical import EmpiricalMax, Extremum, empirical_max
from workbench.pinn.pdes.evaluate import (boundary_errors_at, initial_error_at, network_values,
                                          residual_at)
from workbench.pinn.pdes.registry import get_pde, list_pdes
from workbench.pinn.pdes.solvers import Solution, predict_on_grid, reference_solution, relative_l2

__all__ = ["PDE", "BoundaryCondition", "Func", "InitialCondition", "Term", "pointwise_norm",
           "EmpiricalMax", "Extremum", "empirical_max", "boundary_errors_at", "initial_error_at",
           "network_values", "residual_at", "get_pde", "list_pdes", "Solution", "predict_on_grid",
           "reference_solution", "relative_l2"]
