"""Reproducible, CPU-feasible PINN training, and the writer of the PINN sample models.

The network is a tanh MLP whose first layer is a *fixed* ``Linear(2, 2)`` with a diagonal weight:
the input normalisation x̂ = 2(x − lb)/(ub − lb) − 1 onto [−1, 1]² (lb, ub the domain box in the
network's input order), so a loaded model takes raw (t, x) and certification sees the scaling,
as in the reference ONNX PINNs (where it is Sub/Div nodes). Diffusion–sorption ends with a ReLU
(u = ReLU(N), as in PDEBench and the paper).

Training: Xavier-normal weights and zero biases under a fixed seed, fixed uniform collocation,
initial and boundary points from a seeded generator, Adam with a cosine learning-rate decay,
then optionally L-BFGS (strong Wolfe line search), in one thread with deterministic algorithms.
The loss is w_r·mean|f|² + w_0·mean|IC error|² + w_b·Σ_conditions mean|BC error|².
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import pathlib
import platform
import time
from contextlib import contextmanager
from typing import Any, Callable, Sequence

import torch
from torch import nn

from workbench.nets.architecture import build_module
from workbench.pinn.pdes.base import PDE
from workbench.pinn.pdes.evaluate import boundary_errors_at, initial_error_at, residual_at
from workbench.pinn.pdes.registry import get_pde


@dataclasses.dataclass
class TrainConfig:
    pde: str
    hidden: tuple[int, ...] = (32, 32, 32)
    seed: int = 0
    n_collocation: int = 4000
    n_initial: int = 256
    n_boundary: int = 256  # per boundary condition
    adam_steps: int = 2000
    adam_lr: float = 3e-3
    adam_final_lr_factor: float = 0.05  # cosine decay to adam_lr * this
    lbfgs_steps: int = 0
    lbfgs_history: int = 50
    residual_weight: float = 1.0
    initial_weight: float = 1.0
    boundary_weight: float = 1.0
    output_activation: str | None = "pde"  # of the saved network; "pde": the PDE's own (ReLU for
    # diffusion–sorption). ``train_output_activation`` is the one used while training ("same": that
    # one). Training through an output ReLU stalls wherever N < 0 on the x = 0 boundary (no
    # gradient), so diffusion–sorption trains N without it and appends the ReLU afterwards, which
    # only clips N's small negative undershoots (u >= 0 where the true solution is ~0).
    train_output_activation: str | None = "same"
    input_order: tuple[str, str] | None = None  # None: the PDE's convention
    # Extra collocation points in a box (t0, t1, x0, x1), e.g. the diffusion–sorption corner.
    extra_box: tuple[float, float, float, float] | None = None
    n_extra: int = 0
    description: str = ""

    def resolved_input_order(self, pde: PDE) -> tuple[str, str]:
        return tuple(self.input_order or pde.input_order)

    def resolved_output_activation(self, pde: PDE) -> str | None:
        return pde.output_activation if self.output_activation == "pde" else self.output_activation

    def resolved_train_output_activation(self, pde: PDE) -> str | None:
        if self.train_output_activation == "same":
            return self.resolved_output_activation(pde)
        return pde.output_activation if self.train_output_activation == "pde" else self.train_output_activation


# -- architecture --------------------------------------------------------------------------------
def pinn_architecture(pde: PDE, hidden: Sequence[int], *, input_order=None,
                      output_activation: str | None = None) -> dict[str, Any]:
    """The architecture description (``workbench.nets.architecture``) of a PINN for ``pde``:
    Linear(2, 2) normalisation (fixed), [Linear - Tanh] per hidden width, Linear(-, n_outputs),
    optionally ReLU. The normalisation's box is recorded under ``input_normalisation``."""
    order = tuple(input_order or pde.input_order)
    lower, upper = pde.bounds(order)
    layers: list[dict[str, Any]] = [{"type": "linear", "in": 2, "out": 2}]
    width = 2
    for h in hidden:
        layers += [{"type": "linear", "in": width, "out": int(h)}, {"type": "tanh"}]
        width = int(h)
    layers.append({"type": "linear", "in": width, "out": pde.n_outputs})
    if output_activation == "relu":
        layers.append({"type": "relu"})
    elif output_activation is not None:
        raise ValueError(f"unsupported output activation {output_activation!r}")
    return {"input_shape": [2], "layers": layers,
            "input_order": list(order),
            "input_normalisation": {"layer": 0, "lower": lower, "upper": upper,
                                    "formula": "x̂ = 2(x - lower)/(upper - lower) - 1"}}


def normalisation_parameters(lower: Sequence[float], upper: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    lo = torch.tensor(lower, dtype=torch.float64)
    hi = torch.tensor(upper, dtype=torch.float64)
    return torch.diag(2 / (hi - lo)), -(hi + lo) / (hi - lo)


def build_pinn(arch: dict[str, Any]) -> nn.Sequential:
    """The module, with the fixed normalisation set (and frozen) and Xavier-normal hidden layers
    (under the caller's seed)."""
    model = build_module(arch)
    norm = arch["input_normalisation"]
    w, b = normalisation_parameters(norm["lower"], norm["upper"])
    first = model[norm["layer"]]
    with torch.no_grad():
        first.weight.copy_(w)
        first.bias.copy_(b)
    first.weight.requires_grad_(False)
    first.bias.requires_grad_(False)
    for i, m in enumerate(model):
        if isinstance(m, nn.Linear) and i != norm["layer"]:
            nn.init.xavier_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return model


@contextmanager
def deterministic(threads: int = 1):
    """One thread and deterministic algorithms, restored afterwards."""
    was_det, was_threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_det)
        torch.set_num_threads(was_threads)


# -- training --------------------------------------------------------------------------------------
def _points(cfg: TrainConfig, pde: PDE, gen: torch.Generator) -> dict[str, Any]:
    (t0, t1), (x0, x1) = pde.t_range, pde.x_range
    r = torch.rand(cfg.n_collocation, 2, generator=gen, dtype=torch.float64)
    t, x = t0 + (t1 - t0) * r[:, 0], x0 + (x1 - x0) * r[:, 1]
    if cfg.extra_box is not None and cfg.n_extra > 0:
        a, b, c, d = cfg.extra_box
        r = torch.rand(cfg.n_extra, 2, generator=gen, dtype=torch.float64)
        t = torch.cat([t, a + (b - a) * r[:, 0]])
        x = torch.cat([x, c + (d - c) * r[:, 1]])
    xi = x0 + (x1 - x0) * torch.rand(cfg.n_initial, generator=gen, dtype=torch.float64)
    bcs = []
    for bc in pde.boundary:
        lo = t0 if bc.t_min is None else max(t0, bc.t_min)
        bcs.append((bc, lo + (t1 - lo) * torch.rand(cfg.n_boundary, generator=gen, dtype=torch.float64)))
    f32 = torch.float32
    return {"t": t.to(f32), "x": x.to(f32), "x_ic": xi.to(f32), "bc": [(bc, ts.to(f32)) for bc, ts in bcs]}


def loss_terms(model: Callable, pde: PDE, pts: dict[str, Any], order: Sequence[str]) -> dict[str, torch.Tensor]:
    f = residual_at(model, pde, pts["t"], pts["x"], input_order=order, create_graph=True)
    ic = initial_error_at(model, pde, pts["x_ic"], input_order=order, create_graph=True)
    bc = sum(boundary_errors_at(model, pde, ts, input_order=order, create_graph=True,
                                conditions=(cond,))[cond.name].pow(2).sum(-1).mean()
             for cond, ts in pts["bc"])
    return {"residual": f.pow(2).sum(-1).mean(), "initial": ic.pow(2).sum(-1).mean(),
            "boundary": bc if isinstance(bc, torch.Tensor) else torch.zeros(())}


def train_pinn(cfg: TrainConfig, *, progress: Callable[[float, str], None] | None = None,
               log_every: int = 250) -> tuple[nn.Sequential, dict[str, Any], dict[str, Any]]:
    """Train a PINN; returns (module in eval mode, architecture description, training record)."""
    pde = get_pde(cfg.pde)
    order = cfg.resolved_input_order(pde)
    arch = pinn_architecture(pde, cfg.hidden, input_order=order,
                             output_activation=cfg.resolved_train_output_activation(pde))
    final_arch = pinn_architecture(pde, cfg.hidden, input_order=order,
                                   output_activation=cfg.resolved_output_activation(pde))
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    with deterministic():
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        model = build_pinn(arch)
        pts = _points(cfg, pde, gen)
        params = [p for p in model.parameters() if p.requires_grad]
        w = {"residual": cfg.residual_weight, "initial": cfg.initial_weight, "boundary": cfg.boundary_weight}

        def total(parts):
            return sum(w[k] * v for k, v in parts.items())

        def log(stage, step, parts):
            history.append({"stage": stage, "step": step, "loss": float(total(parts).detach()),
                            **{k: float(v.detach()) for k, v in parts.items()}})

        opt = torch.optim.Adam(params, lr=cfg.adam_lr)
        lr_min = cfg.adam_lr * cfg.adam_final_lr_factor
        for step in range(cfg.adam_steps):
            for group in opt.param_groups:
                group["lr"] = lr_min + 0.5 * (cfg.adam_lr - lr_min) * (1 + math.cos(math.pi * step / cfg.adam_steps))
            parts = loss_terms(model, pde, pts, order)
            loss = total(parts)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % log_every == 0:
                log("adam", step, parts)
                if progress is not None:
                    progress(step / max(cfg.adam_steps + cfg.lbfgs_steps, 1), f"Adam {step}: loss {float(loss):.3e}")
        lbfgs_iters = 0
        if cfg.lbfgs_steps > 0:
            lbfgs = torch.optim.LBFGS(params, lr=1.0, max_iter=cfg.lbfgs_steps,
                                      max_eval=int(cfg.lbfgs_steps * 1.25), history_size=cfg.lbfgs_history,
                                      tolerance_grad=1e-9, tolerance_change=1e-12,
                                      line_search_fn="strong_wolfe")
            calls = [0]

            def closure():
                lbfgs.zero_grad()
                parts = loss_terms(model, pde, pts, order)
                loss = total(parts)
                loss.backward()
                if calls[0] % log_every == 0:
                    log("lbfgs", calls[0], parts)
                calls[0] += 1
                return loss

            lbfgs.step(closure)
            lbfgs_iters = int(lbfgs.state[lbfgs.param_groups[0]["params"][0]].get("n_iter", 0))
        final = loss_terms(model, pde, pts, order)
        log("final", cfg.adam_steps + lbfgs_iters, final)
    if final_arch != arch:  # only an output activation differs: it has no parameters
        saved = build_module(final_arch)
        saved.load_state_dict(model.state_dict())
        for p in saved[0].parameters():
            p.requires_grad_(False)
        model, arch = saved, final_arch
    model.eval()
    record = {"seconds": time.perf_counter() - start, "lbfgs_iterations": lbfgs_iters,
              "final_loss": {k: float(v.detach()) for k, v in final.items()} | {"total": float(total(final).detach())},
              "history": history}
    return model, arch, record


def summarize(arch: dict[str, Any]) -> str:
    parts = []
    for i, d in enumerate(arch["layers"]):
        if d["type"] == "linear":
            parts.append(f"Linear({d['in']}, {d['out']})" + (" [fixed normalisation]"
                                                             if i == arch["input_normalisation"]["layer"] else ""))
        else:
            parts.append({"tanh": "Tanh", "relu": "ReLU"}.get(d["type"], d["type"]))
    return " - ".join(parts)


# -- sample-model writer ---------------------------------------------------------------------------
def write_sample(cfg: TrainConfig, out: pathlib.Path, name: str, *, empirical_n: int = 10 ** 6,
                 empirical_seed: int = 0) -> dict[str, Any]:
    """Train, then write ``model.pt``, ``model.arch.json`` and ``manifest.json`` into ``out``."""
    from workbench.pinn.pdes.empirical import empirical_max
    from workbench.pinn.pdes.solvers import DEFAULT_GRIDS, reference_solution, relative_l2

    pde = get_pde(cfg.pde)
    model, arch, record = train_pinn(cfg)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, out / "model.pt")
    (out / "model.arch.json").write_text(json.dumps(arch, indent=2) + "\n")
    order = cfg.resolved_input_order(pde)
    sol = reference_solution(pde)
    l2 = relative_l2(model, pde, sol, input_order=order)
    emp = empirical_max(model, pde, n=empirical_n, seed=empirical_seed, input_order=order)
    training = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()
                if k not in ("pde", "description")}
    training.update(optimizer="Adam (cosine lr decay)" + (" then L-BFGS (strong Wolfe, lr 1)"
                                                          if cfg.lbfgs_steps else ""),
                    initialisation="Xavier normal weights, zero biases (torch.manual_seed(seed))",
                    sampling="uniform, fixed for the whole run (torch.Generator seeded with seed)",
                    lbfgs_iterations=record["lbfgs_iterations"], deterministic=True, threads=1,
                    dtype="float32", final_loss=record["final_loss"])
    manifest = {
        "name": name,
        "kind": "pinn",
        "description": cfg.description,
        "pde": pde.describe(),
        "input_order": list(order),
        "architecture": {
            "summary": summarize(arch), "input_shape": [2], "num_outputs": pde.n_outputs,
            "hidden": list(cfg.hidden), "activation": "tanh",
            "output_activation": cfg.resolved_output_activation(pde),
            "parameters": sum(p.numel() for p in model.parameters()),
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "input_normalisation": arch["input_normalisation"],
        },
        "files": {"weights": "model.pt", "architecture": "model.arch.json"},
        "relative_l2": l2,
        "reference": {"solver": sol.method, "description": pde.reference,
                      "grid": {"nt": len(sol.t), "nx": len(sol.x), "t": list(pde.t_range),
                               "x": list(pde.x_range)},
                      "default_grid": list(DEFAULT_GRIDS[pde.name])},
        "empirical": emp.to_dict(),
        "training": training,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "train_seconds": round(record["seconds"], 1),
        "date": datetime.date.today().isoformat(),
        "rebuild": f"python sample_models/{name}/train.py",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def main(script: str, cfg: TrainConfig) -> dict[str, Any]:
    """Entry point of ``sample_models/pinn_*/train.py``: ``--out DIR`` (default: the script's folder)."""
    folder = pathlib.Path(script).resolve().parent
    parser = argparse.ArgumentParser(description=f"Train the PINN sample model {folder.name}.")
    parser.add_argument("--out", type=pathlib.Path, default=folder,
                        help="folder to write model.pt, model.arch.json, manifest.json into")
    args = parser.parse_args()
    manifest = write_sample(cfg, args.out, folder.name)
    emp = manifest["empirical"]
    print(f"{folder.name}: relative L2 {manifest['relative_l2']:.3e}, max |residual| "
          f"{emp['residual']['value']:.3e}, max |IC error| {emp['initial']['value']:.3e}, "
          f"max |BC error| {emp['boundary']['value']:.3e}, {manifest['train_seconds']} s")
    return manifest
