"""Training with Gaussian noise augmentation for the randomized-smoothing sample models.

Cohen et al. train the base classifier on x + N(0, sigma^2 I) with the smoothing sigma, the
noise redrawn at every step (drawing it once per dataset is a known pitfall). The rest follows
``common.py``: CPU, one thread, fixed seeds, deterministic algorithms, Adam with a cosine
schedule; the files written are the same (model.pt as a plain dict of tensors, model.arch.json,
manifest.json), and the manifest adds "kind": "smoothing", "sigma" and the noisy accuracy.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import torch
from torch import nn

from common import deterministic_setup, manifest_for, train_from_cli  # also puts the repository on sys.path
from workbench.data.datasets import Dataset

NOISY_EVAL_DRAWS = 20   # noisy copies of each test input behind "noisy_test_accuracy"
NOISY_EVAL_SEED = 1234


@dataclasses.dataclass
class SmoothConfig:
    dataset: str
    sigma: float
    epochs: int
    lr: float
    batch_size: int
    seed: int = 0
    weight_decay: float = 0.0
    description: str = ""


def noisy_accuracy(model: nn.Module, data: Dataset, sigma: float, draws: int = NOISY_EVAL_DRAWS,
                   seed: int = NOISY_EVAL_SEED) -> float:
    """Accuracy of the base classifier on ``draws`` Gaussian-noise copies of every input (seeded,
    so the number in the manifest is reproducible; no clipping, as in smoothing)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(data.x)
    x = x[:, None].expand(len(x), draws, *x.shape[1:])
    noisy = x + sigma * torch.randn(x.shape, generator=gen)
    with torch.no_grad():
        pred = model(noisy.reshape(-1, *data.x.shape[1:])).argmax(1).view(len(data.x), draws).numpy()
    return float((pred == data.y[:, None]).mean())


def train(arch: dict[str, Any], cfg: SmoothConfig) -> tuple[nn.Sequential, Dataset, Dataset]:
    model, opt, sched, gen, train_set, test_set = deterministic_setup(arch, cfg)
    x, y = torch.from_numpy(train_set.x), torch.from_numpy(train_set.y)
    for _ in range(cfg.epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=gen).split(cfg.batch_size):
            xb = x[idx] + cfg.sigma * torch.randn(x[idx].shape, generator=gen)  # fresh every step
            loss = nn.functional.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    return model, train_set, test_set


def main(script: str, arch: dict[str, Any], cfg: SmoothConfig) -> None:
    name, out, model, train_set, test_set, seconds = train_from_cli(script, arch, cfg, train)
    training = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("dataset", "description")}
    training.update(optimizer="Adam", lr_schedule="cosine", loss="cross_entropy", deterministic=True,
                    threads=1, adversarial=None,
                    noise={"kind": "gaussian", "sigma": cfg.sigma, "redrawn": "every step",
                           "clipped": False})
    manifest = manifest_for(name, arch, cfg, model, train_set, test_set, training, seconds,
                            kind="smoothing", sigma=cfg.sigma)
    # The noisy accuracy belongs right after the clean ones.
    items = list(manifest.items())
    at = [k for k, _ in items].index("train_accuracy") + 1
    items[at:at] = [("noisy_test_accuracy", noisy_accuracy(model, test_set, cfg.sigma)),
                    ("noisy_evaluation", {"draws": NOISY_EVAL_DRAWS, "seed": NOISY_EVAL_SEED,
                                          "noise": f"gaussian, sigma {cfg.sigma}"})]
    manifest = dict(items)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{name}: test accuracy {manifest['test_accuracy']:.4f}, noisy (sigma {cfg.sigma}) "
          f"{manifest['noisy_test_accuracy']:.4f} ({seconds:.1f} s) -> {out}")
