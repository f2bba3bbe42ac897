"""The PINN as the certifier sees it: a float64 tanh MLP, its input order, an optional ReLU output.

Everything in `workbench.pinn.certify` works in (t, x) coordinates; this class is the one place
that knows the network's own input order (Burgers takes (t, x), diffusion–sorption (x, t)) and
turns derivative names like ``u_xx`` into the index tuples `workbench.pinn.bounds` expects.
Published diffusion–sorption networks end in ReLU (u = ReLU(N)): we bound N and decide per box.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from workbench.nets.errors import ModelLoadError, Unsupported
from workbench.nets.graph import Graph
from workbench.pinn.bounds import TanhMLP, tanh_mlp
from workbench.pinn.pdes.base import PDE

Tensor = torch.Tensor


@dataclass
class PinnNetwork:
    mlp: TanhMLP                   # float64, on the device the certifier runs on
    input_order: tuple[str, str]   # the network's inputs, a permutation of ("t", "x")
    relu_output: bool = False      # u = ReLU(mlp(z)) instead of u = mlp(z)

    @property
    def n_outputs(self) -> int:
        return self.mlp.n_outputs

    @property
    def device(self) -> torch.device:
        return self.mlp.weights[0].device

    def net_inputs(self, tx: Tensor) -> Tensor:
        """Columns of [N, 2] (t, x) points or box corners in the network's input order."""
        return tx[:, [("t", "x").index(v) for v in self.input_order]]

    def key(self, suffix: str) -> tuple[int, ...]:
        """'' -> (), '_t' -> (index of t,), '_xx' -> (ix, ix), '_tx' -> sorted (it, ix)."""
        return tuple(sorted(self.input_order.index(v) for v in suffix.lstrip("_")))

    def to(self, device: torch.device | str) -> "PinnNetwork":
        return PinnNetwork(self.mlp.to(device, torch.float64), self.input_order, self.relu_output)


def pinn_network(graph: Graph, pde: PDE, input_order: Sequence[str] | None = None) -> PinnNetwork:
    """Read a loaded network as a PINN for `pde`; raises `ModelLoadError` naming what does not fit."""
    try:
        return _pinn_network(graph, pde, input_order)
    except Unsupported as err:   # a user's network, not a bug: one readable line
        raise ModelLoadError(f"{graph.name}: {err}") from None


def _pinn_network(graph: Graph, pde: PDE, input_order: Sequence[str] | None) -> PinnNetwork:
    order = tuple(input_order or pde.input_order)
    relu = graph.nodes[graph.output].op == "relu" and graph.output == len(graph.nodes) - 1
    if relu:  # bound N and apply the ReLU per box (see residual.py)
        graph = Graph(graph.input_shape, graph.nodes[:-1], name=graph.name)
    mlp = tanh_mlp(graph)
    if mlp.n_inputs != 2:
        raise Unsupported(f"a PINN for {pde.name} takes 2 inputs ({', '.join(order)}), this network takes {mlp.n_inputs}")
    if mlp.n_outputs != pde.n_outputs:
        raise Unsupported(f"{pde.name} needs {pde.n_outputs} output(s) ({', '.join(pde.outputs)}), "
                          f"this network has {mlp.n_outputs}")
    if relu and pde.output_activation != "relu":
        raise Unsupported(f"the network ends in ReLU, which {pde.name} does not expect")
    return PinnNetwork(mlp, order, relu)


def load_pinn(path: str | Path, pde: PDE, device: torch.device | str = "cpu",
              input_order: Sequence[str] | None = None) -> tuple[Graph, PinnNetwork]:
    """Load a network file (any format the workbench loads) and read it as a PINN. The input
    order comes from the sample model's manifest when there is one, else from the PDE."""
    from workbench.nets.loading import load_network

    graph = load_network(str(path), device="cpu", dtype=torch.float64)
    if input_order is None:
        input_order = _manifest_order(Path(path))
    return graph, pinn_network(graph, pde, input_order).to(device)


def _manifest_order(path: Path) -> tuple[str, str] | None:
    import json

    manifest = path.parent / "manifest.json"
    try:
        order = json.loads(manifest.read_text(encoding="utf-8")).get("input_order")
    except (OSError, ValueError):
        return None
    return tuple(order) if order and sorted(order) == ["t", "x"] else None
