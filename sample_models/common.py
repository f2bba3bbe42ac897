"""The training loop shared by the sample models' ``train.py`` scripts.

Each script describes its architecture (see ``workbench/nets/architecture.py``) and a
:class:`Config`, and calls :func:`main`, which trains on the CPU with fixed seeds and
deterministic algorithms and writes ``model.pt`` (a plain dict of tensors), ``model.arch.json``
and ``manifest.json`` beside the script (or into ``--out``).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import pathlib
import platform
import sys
import time
from typing import Any

import numpy as np
import torch
from torch import nn

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the scripts run from a checkout, not an installed package
    sys.path.insert(0, str(REPO))

from workbench.data.datasets import Dataset, load_dataset  # noqa: E402
from workbench.nets.architecture import build_module  # noqa: E402


@dataclasses.dataclass
class Config:
    dataset: str
    epochs: int
    lr: float
    batch_size: int
    seed: int = 0
    weight_decay: float = 0.0
    # Mild adversarial training: from epoch ``adv_from_epoch`` on, half of each batch's loss is
    # on PGD examples in an Linf ball of radius ``adv_eps`` (0 disables it). It makes small-eps
    # certificates attainable without costing clean accuracy, and takes only seconds here.
    adv_eps: float = 0.0
    adv_steps: int = 5
    adv_from_epoch: int = 0
    description: str = ""


def summarize(arch: dict[str, Any]) -> str:
    """A one-line architecture summary, e.g. ``Linear(2, 50) - ReLU - Linear(50, 2)``."""
    parts = []
    for d in arch["layers"]:
        t = d["type"]
        if t == "linear":
            parts.append(f"Linear({d['in']}, {d['out']})")
        elif t == "conv2d":
            parts.append(f"Conv2d({d['in']}, {d['out']}, k={d['kernel']}, "
                         f"s={d.get('stride', 1)}, p={d.get('padding', 0)})")
        else:
            parts.append({"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid",
                          "flatten": "Flatten"}.get(t, t))
    return " - ".join(parts)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
        data: Dataset, gen: torch.Generator) -> torch.Tensor:
    """Linf PGD from a random start, clipped to the data range when it has one."""
    lo = -np.inf if data.lower is None else data.lower
    hi = np.inf if data.upper is None else data.upper
    delta = (torch.rand(x.shape, generator=gen) * 2 - 1) * eps
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = nn.functional.cross_entropy(model((x + delta).clamp(lo, hi)), y)
        (grad,) = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + 2.5 * eps / steps * grad.sign()).clamp(-eps, eps)
    return (x + delta).clamp(lo, hi).detach()


def accuracy(model: nn.Module, data: Dataset) -> float:
    with torch.no_grad():
        pred = model(torch.from_numpy(data.x)).argmax(dim=1).numpy()
    return float((pred == data.y).mean())


def deterministic_setup(arch: dict[str, Any], cfg: Any) -> tuple:
    """Seeds, one thread, deterministic algorithms; then the data, the model (torch's default
    initialisation under the seed), Adam and its cosine schedule, in that order (the order
    fixes the random streams). Returns (model, opt, sched, gen, train_set, test_set)."""
    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # one thread: the same reduction order on every machine
    gen = torch.Generator().manual_seed(cfg.seed)
    train_set, test_set = load_dataset(cfg.dataset, "train"), load_dataset(cfg.dataset, "test")
    model = build_module(arch)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs)
    return model, opt, sched, gen, train_set, test_set


def train(arch: dict[str, Any], cfg: Config) -> tuple[nn.Sequential, Dataset, Dataset]:
    model, opt, sched, gen, train_set, test_set = deterministic_setup(arch, cfg)
    x, y = torch.from_numpy(train_set.x), torch.from_numpy(train_set.y)
    for epoch in range(cfg.epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=gen).split(cfg.batch_size):
            xb, yb = x[idx], y[idx]
            loss = nn.functional.cross_entropy(model(xb), yb)
            if cfg.adv_eps > 0 and epoch >= cfg.adv_from_epoch:
                xa = pgd(model, xb, yb, cfg.adv_eps, cfg.adv_steps, train_set, gen)
                loss = 0.5 * loss + 0.5 * nn.functional.cross_entropy(model(xa), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    return model, train_set, test_set


def train_from_cli(script: str, arch: dict[str, Any], cfg: Any, train_fn) -> tuple:
    """Parse ``--out``, train with ``train_fn(arch, cfg)``, save the weights and architecture.

    Returns (name, out folder, model, train set, test set, seconds). Shared by every sample
    model family's ``main`` (each adds its own manifest fields)."""
    name = pathlib.Path(script).resolve().parent.name
    parser = argparse.ArgumentParser(description=f"Train the sample model {name}.")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path(script).resolve().parent,
                        help="folder to write model.pt, model.arch.json, manifest.json into")
    out = parser.parse_args().out
    start = time.perf_counter()
    model, train_set, test_set = train_fn(arch, cfg)
    seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    # A plain dict of tensors: loads with torch.load(weights_only=True), no pickled classes.
    torch.save({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()},
               out / "model.pt")
    (out / "model.arch.json").write_text(json.dumps(arch, indent=2) + "\n")
    return name, out, model, train_set, test_set, seconds


def manifest_for(name: str, arch: dict[str, Any], cfg: Any, model: nn.Module, train_set: Dataset,
                 test_set: Dataset, training: dict, seconds: float, **extra: Any) -> dict[str, Any]:
    """The manifest every sample classifier shares; ``extra`` keys go after the description."""
    return {
        "name": name,
        **extra,
        "description": cfg.description,
        "architecture": {"summary": summarize(arch), "input_shape": arch["input_shape"],
                         "num_classes": len(test_set.classes),
                         "parameters": sum(p.numel() for p in model.parameters())},
        "files": {"weights": "model.pt", "architecture": "model.arch.json"},
        "dataset": {"name": cfg.dataset, "split_sizes": {"train": len(train_set),
                                                         "test": len(test_set)},
                    "input_range": [test_set.lower, test_set.upper]},
        "test_accuracy": accuracy(model, test_set),
        "train_accuracy": accuracy(model, train_set),
        "training": training,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "train_seconds": round(seconds, 1),
        "date": datetime.date.today().isoformat(),
        "rebuild": f"python sample_models/{name}/train.py",
    }


def main(script: str, arch: dict[str, Any], cfg: Config) -> None:
    name, out, model, train_set, test_set, seconds = train_from_cli(script, arch, cfg, train)
    training = {k: v for k, v in dataclasses.asdict(cfg).items()
                if k not in ("dataset", "description") and not k.startswith("adv_")}
    training.update(optimizer="Adam", lr_schedule="cosine", loss="cross_entropy",
                    deterministic=True, threads=1)
    training["adversarial"] = None if cfg.adv_eps <= 0 else {
        "method": "pgd_linf", "eps": cfg.adv_eps, "steps": cfg.adv_steps,
        "step_size": 2.5 * cfg.adv_eps / cfg.adv_steps, "from_epoch": cfg.adv_from_epoch,
        "loss_weight": 0.5}
    manifest = manifest_for(name, arch, cfg, model, train_set, test_set, training, seconds)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{name}: test accuracy {manifest['test_accuracy']:.4f}, "
          f"train accuracy {manifest['train_accuracy']:.4f} ({seconds:.1f} s) -> {out}")
