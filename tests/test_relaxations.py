"""The activations' default (CROWN) lines: sound on every kind of interval, including the
degenerate ones (a point, an end at ±0, very narrow or very wide), and tight (each line touches f)."""
from __future__ import annotations

import pytest
import torch

from workbench.bounds.relaxations import ACTIVATIONS, default_slopes, intercept, intercepts, relu_default

OPS = ["relu", "leaky_relu", "tanh", "sigmoid", "softplus"]
PARAMS = {"leaky_relu": {"alpha": 0.1}}


def intervals(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """[2, 1, n] lower and upper ends: random ones of many widths and the edge cases."""
    gen = torch.Generator().manual_seed(0)
    center = torch.randn(600, generator=gen, dtype=dtype) * torch.tensor([0.1, 1.0, 5.0], dtype=dtype).repeat(200)
    width = torch.rand(600, generator=gen, dtype=dtype) * torch.tensor([1e-7, 1e-3, 1.0, 30.0], dtype=dtype).repeat(150)
    lo, up = center - width, center + width
    edges = torch.tensor([[0.0, 0.0], [-0.0, 0.0], [0.0, 1.0], [-0.0, 2.0], [-1.0, 0.0], [-1.0, -0.0], [0.5, 0.5],
                          [-3.0, -3.0], [-1e4, 1e4], [-1e6, 2.0], [-2.0, 1e6], [1e-30, 2e-30], [-2e-30, 1e-30]],
                         dtype=dtype)
    lo, up = torch.cat([lo, edges[:, 0]]), torch.cat([up, edges[:, 1]])
    pad = (-lo.numel()) % 2
    lo, up = torch.cat([lo, lo[:pad]]), torch.cat([up, up[:pad]])
    return lo.view(2, 1, -1), up.view(2, 1, -1)


def default_lines(op: str, lo: torch.Tensor, up: torch.Tensor):
    if op == "relu":
        return relu_default(lo, up)
    k_lo, k_up = default_slopes(op, PARAMS.get(op, {}), lo, up)
    b_lo, b_up = intercepts(op, PARAMS.get(op, {}), lo, up, k_lo, k_up)
    return k_lo, b_lo, k_up, b_up


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("op", OPS)
def test_default_lines_are_sound_and_touch_f(op, dtype):
    lo, up = intervals(dtype)
    k_lo, b_lo, k_up, b_up = default_lines(op, lo, up)
    for t in (k_lo, b_lo, k_up, b_up):
        assert t.shape == lo.shape and bool(torch.isfinite(t).all())
    # f - line on a grid of each interval (ends included), evaluated in float64.
    s = torch.linspace(0, 1, 257, dtype=torch.float64)
    lo64, up64 = lo.double().unsqueeze(-1), up.double().unsqueeze(-1)
    x = (lo64 + (up64 - lo64) * s).clamp(max=up64)
    f = ACTIVATIONS[op].fn(x, PARAMS.get(op, {}))
    below = f - (k_lo.double().unsqueeze(-1) * x + b_lo.double().unsqueeze(-1))
    above = k_up.double().unsqueeze(-1) * x + b_up.double().unsqueeze(-1) - f
    assert float(below.min()) >= 0 and float(above.min()) >= 0
    # Tight: each line comes within rounding (and, between grid points, a sliver) of f.
    scale = 1 + torch.max(lo64.abs(), up64.abs()).squeeze(-1)
    slack = torch.finfo(dtype).eps * 64 * scale + 1e-4 * (up - lo).double() ** 2
    assert bool((below.amin(-1) <= slack).all()) and bool((above.amin(-1) <= slack).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_relu_default_lines_on_stable_neurons_are_exact(dtype):
    lo = torch.tensor([0.0, 0.5, -2.0, -1.0, -0.0, -1.0, -3.0], dtype=dtype)
    up = torch.tensor([1.0, 0.5, -1.0, 0.0, 2.0, 3.0, 1.0], dtype=dtype)
    k_lo, b_lo, k_up, b_up = relu_default(lo, up)
    assert k_lo.tolist() == [1, 1, 0, 0, 1, 1, 0] and k_up[:5].tolist() == [1, 1, 0, 0, 1]
    assert b_lo.tolist() == [0] * 7 and b_up[:5].tolist() == [0] * 5
    assert torch.allclose(k_up[5:], torch.tensor([0.75, 0.25], dtype=dtype)) and bool((b_up[5:] > 0).all())


@pytest.mark.parametrize("op", ["tanh", "sigmoid", "softplus", "leaky_relu"])
def test_intercepts_broadcast_a_spec_dim_and_equal_the_one_line_version(op):
    lo, up = intervals(torch.float64)
    gen = torch.Generator().manual_seed(1)
    k_lo = torch.rand(2, 3, lo.shape[-1], generator=gen, dtype=torch.float64)
    k_up = torch.rand(2, 1, lo.shape[-1], generator=gen, dtype=torch.float64)
    p = PARAMS.get(op, {})
    b_lo, b_up = intercepts(op, p, lo, up, k_lo, k_up)
    assert b_lo.shape == b_up.shape == (2, 3, lo.shape[-1])
    # The same extremes; intercepts pads both lines by the larger slope, so a hair more.
    one_lo, one_up = intercept(op, p, lo, up, k_lo, "lower"), intercept(op, p, lo, up, k_up.expand_as(k_lo), "upper")
    assert bool((b_lo <= one_lo).all()) and bool((b_up >= one_up).all())
    size = 1 + torch.max(lo.abs(), up.abs()) * 2       # the padding's scale (slopes < 1)
    assert bool(((one_lo - b_lo) <= 1e-14 * size).all()) and bool(((b_up - one_up) <= 1e-14 * size).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("op", ["tanh", "sigmoid", "softplus"])
def test_lines_with_tiny_or_out_of_range_slopes_stay_sound(op, dtype):
    # Saturated intervals, where f' (and so CROWN's slope) is far below 1e-7, and slopes f never
    # has (<= 0, above its largest): the extremes of f(x) - k·x must still be found.
    lo = torch.tensor([-11.23, -30.0, 9.7, 25.0, -40.0, -3.0, -3.0, -3.0], dtype=dtype)
    up = torch.tensor([-9.49, -20.0, 10.5, 40.0, 40.0, 2.0, 2.0, 2.0], dtype=dtype)
    k_lo, k_up = default_slopes(op, {}, lo, up)
    k_lo[5:], k_up[5:] = torch.tensor([0.0, -0.5, 2.0], dtype=dtype), torch.tensor([0.0, -0.5, 2.0], dtype=dtype)
    b_lo, b_up = intercepts(op, {}, lo, up, k_lo, k_up)
    x = lo.double().unsqueeze(-1) + (up - lo).double().unsqueeze(-1) * torch.linspace(0, 1, 4097, dtype=torch.float64)
    f = ACTIVATIONS[op].fn(x, {})
    assert float((f - (k_lo.double().unsqueeze(-1) * x + b_lo.double().unsqueeze(-1))).min()) >= 0
    assert float((k_up.double().unsqueeze(-1) * x + b_up.double().unsqueeze(-1) - f).min()) >= 0
