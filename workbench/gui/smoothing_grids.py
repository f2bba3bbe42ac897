"""Decision-region grids of a 2-D smoothing run (Qt-free, run by ``load_view_data`` in a worker).

- The base classifier f: its class and top-2 logit gap per pixel (one forward per pixel).
- The smoothed classifier g(x) = argmax_c P[f(x + noise) = c] at the run's base σ: a seeded
  Monte-Carlo majority vote, ``votes`` noisy copies of every pixel in one batched forward per
  chunk and one ``bincount``; its "margin" is the gap between the top two vote shares.
- A small high-resolution base grid around each sample, for the Hessian view's close-up (the
  global grid's pixels would be larger than the ellipse there).
Grids are wider than tall (``ASPECT``), the shape of the views' plots, so the aspect-locked
plots are filled instead of showing white margins beside the regions.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from workbench.gui.viewdata import Grid
from workbench.runtime import CancelledFn, check_cancelled, never_cancelled

Extent = tuple[float, float, float, float]  # x0, x1, y0, y1

ASPECT = 2.2          # width / height of the 2-D plot at its usual size (legend below it)
BASE_ROWS = 200       # base grid rows (cheap: one forward per pixel)
SMOOTH_ROWS = 80      # Monte-Carlo grid rows (votes × rows × columns forwards)
VOTES = 96            # noisy copies per pixel: the vote-share gap is good to about ±0.1
SEED = 0              # the picture must not change each time a run is selected
CHUNK = 32768         # forwards per batch: big enough to amortise, small enough for memory
LOCAL_ROWS = 64       # pixel rows of a sample's close-up
MAX_LOCAL = 256       # close-ups beyond this many samples fall back to the global grid


def widen(extent: Extent, aspect: float = ASPECT) -> Extent:
    """Grow the shorter side of ``extent`` (about its centre) to the width/height ``aspect``."""
    x0, x1, y0, y1 = extent
    w, h = x1 - x0, y1 - y0
    if w < aspect * h:
        cx, w = (x0 + x1) / 2, aspect * h
        return cx - w / 2, cx + w / 2, y0, y1
    cy, h = (y0 + y1) / 2, w / aspect
    return x0, x1, cy - h / 2, cy + h / 2


def grid_shape(extent: Extent, rows: int) -> tuple[int, int]:
    """(rows, columns) with about square pixels over ``extent``."""
    x0, x1, y0, y1 = extent
    return rows, max(2, int(round(rows * (x1 - x0) / (y1 - y0))))


def grid_points(extent: Extent, shape: tuple[int, int]) -> np.ndarray:
    """Pixel centres [rows·columns, 2], row-major with row 0 at y0 (the views' image convention)."""
    x0, x1, y0, y1 = extent
    gx, gy = np.meshgrid(np.linspace(x0, x1, shape[1]), np.linspace(y0, y1, shape[0]))
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def pixel(grid: Grid, x: float, y: float) -> tuple[int, int] | None:
    """(row, column) of the grid pixel whose centre is nearest (x, y); None outside the grid."""
    x0, x1, y0, y1 = grid.extent
    h, w = grid.classes.shape
    j = int(round((x - x0) / (x1 - x0) * (w - 1)))
    i = int(round((y - y0) / (y1 - y0) * (h - 1)))
    return (i, j) if 0 <= i < h and 0 <= j < w else None


def noise(shape: tuple[int, ...], sigma: float, norm: str, generator: Any, dtype: Any) -> Any:
    """Gaussian N(0, σ²) for L2 certificates, uniform U[−σ, σ] (σ the half-width) for L1 ones."""
    import torch

    if norm == "1":
        return (2.0 * torch.rand(shape, generator=generator, dtype=dtype) - 1.0) * sigma
    return torch.randn(shape, generator=generator, dtype=dtype) * sigma


def smoothed_votes(graph: Any, points: np.ndarray, sigma: float, norm: str, votes: int,
                   seed: int = SEED, cancelled: CancelledFn = never_cancelled) -> np.ndarray:
    """Vote counts [P, classes] of f(x + noise) at each point, ``votes`` noisy copies each."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    dtype = getattr(graph, "dtype", torch.float32)
    pts = torch.as_tensor(points, dtype=dtype)
    counts = []
    with torch.inference_mode():
        for chunk in pts.split(max(1, CHUNK // votes)):
            check_cancelled(cancelled)
            noisy = chunk[:, None, :] + noise((len(chunk), votes, chunk.shape[1]), sigma, norm, gen, dtype)
            logits = graph(noisy.reshape(-1, chunk.shape[1])).flatten(1)
            k = logits.shape[1]
            cls = logits.argmax(1).view(len(chunk), votes)
            offset = torch.arange(len(chunk))[:, None] * k  # one bincount for the whole chunk
            counts.append(torch.bincount((cls + offset).ravel(), minlength=len(chunk) * k).view(-1, k))
    return torch.cat(counts).numpy()


def _base_logits(graph: Any, points: np.ndarray) -> Any:
    import torch

    with torch.inference_mode():
        flat = torch.as_tensor(points, dtype=getattr(graph, "dtype", torch.float32))
        return torch.cat([graph(b).flatten(1) for b in flat.split(16384)])


def _base_grid(logits: Any, extent: Extent, shape: tuple[int, int]) -> Grid:
    top2 = logits.topk(min(2, logits.shape[1]), dim=1).values
    gap = top2[:, 0] - top2[:, -1]
    return Grid(extent, logits.argmax(1).view(shape).numpy(), gap.view(shape).numpy())


def decision_grids(graph: Any, extent: Extent, sigma: float, norm: str, *, votes: int = VOTES,
                   rows: int = SMOOTH_ROWS, cancelled: CancelledFn = never_cancelled) -> tuple[Grid, Grid]:
    """(base grid, smoothed grid) over the same extent."""
    shape = grid_shape(extent, BASE_ROWS)
    base = _base_grid(_base_logits(graph, grid_points(extent, shape)), extent, shape)
    check_cancelled(cancelled)
    shape = grid_shape(extent, rows)
    counts = smoothed_votes(graph, grid_points(extent, shape), sigma, norm, votes, SEED, cancelled)
    share = np.sort(counts, axis=1)[:, ::-1] / float(votes)
    margin = share[:, 0] - (share[:, 1] if share.shape[1] > 1 else 0.0)
    return base, Grid(extent, counts.argmax(1).reshape(shape), margin.reshape(shape))


def local_grids(graph: Any, windows: list[Extent], rows: int = LOCAL_ROWS) -> list[Grid]:
    """Base grids of about square pixels over each window, in one batched forward."""
    if not windows:
        return []
    shapes = [grid_shape(w, rows) for w in windows]
    logits = _base_logits(graph, np.concatenate([grid_points(w, s) for w, s in zip(windows, shapes)]))
    ends = np.cumsum([0] + [h * w for h, w in shapes])
    return [_base_grid(logits[ends[k]:ends[k + 1]], w, s) for k, (w, s) in enumerate(zip(windows, shapes))]
