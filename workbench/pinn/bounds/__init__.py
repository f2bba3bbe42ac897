"""∂-CROWN core: sound bounds on a tanh PINN's output and its derivatives over input boxes.

    derivative_bounds(graph, lower, upper, orders=("u", "u_t", "u_x", "u_xx"), variables=("t", "x"))
        -> {"u": (lo, up), "u_t": ..., ...}, each [N_boxes, n_outputs] (float64)

`graph` is a `workbench.nets.graph.Graph` (affine/linear nodes with tanh between them; input
normalisation is folded into the first layer) or a `TanhMLP`. Any first and second
derivatives (u_t, u_xx, u_tx, ...) may be asked for; boxes are in raw input units.

For the residual layer: `prepare` (hidden-layer bounds and relaxations for a batch of boxes,
once) and `bound_spec` (one backward pass for any per-box linear combination of the
derivatives; products such as u·u_x go in as McCormick planes from `products.mccormick`).
`evaluate` gives exact values by forward mode, for empirical maxima.

Modules: activations (tanh, tanh', tanh'': exact ranges, lines), products (McCormick, squares),
layer (one layer's relaxations, interval arithmetic), backward (the CROWN passes), forward
(forward-mode linear bounds, the cheap alternative), mlp (Graph -> matrices), api.
"""
from .api import Prepared, bound_spec, derivative_bounds, prepare
from .mlp import TanhMLP, evaluate, parse_orders, tanh_mlp

__all__ = ["Prepared", "TanhMLP", "bound_spec", "derivative_bounds", "evaluate", "parse_orders", "prepare",
           "tanh_mlp"]
