"""∂-CROWN on the paper's Burgers PINN: time to certified bounds, against uniform splitting.

    python benchmarks/bench_pinn.py [--device cpu|cuda] [--budget S] [--quick]

Runs the workbench's PINN certification (`workbench.pinn.certify.certify_pinn`) on
../shared/pinn/burgers_tanh_lbfgs.onnx and prints, per part, the certified bound of max |error|,
the empirical maximum (10^6 points), their ratio and the time; for the residual also when the
bound first went under the paper's 0.321 (squared 1.03e-1, which took the reference code 2.8e5 s).

Baseline measured in the same run: the same bounding code on a *uniform* grid of the domain (the
reference implementation's splitting), given about the same time as the adaptive run took to
pass 0.321; the ratio of the two bounds is what adaptive splitting buys.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workbench.pinn.certify import Settings, certify_pinn, load_pinn  # noqa: E402
from workbench.pinn.certify.residual import residual_bounds  # noqa: E402
from workbench.pinn.pdes import get_pde  # noqa: E402
from workbench.runtime import sound_math  # noqa: E402

MODEL = ROOT.parent / "shared" / "pinn" / "burgers_tanh_lbfgs.onnx"
PAPER_RESIDUAL = 0.321          # sqrt(1.03e-1), the ∂-CROWN paper's Burgers residual bound
PAPER_SECONDS = 2.8e5


def uniform_bound(net, pde, n: int, device: torch.device) -> tuple[float, float]:
    """The residual bound from an n x n uniform grid of boxes, and the seconds it took."""
    start = time.perf_counter()
    t = torch.linspace(*pde.t_range, n + 1, dtype=torch.float64, device=device)
    x = torch.linspace(*pde.x_range, n + 1, dtype=torch.float64, device=device)
    T0, X0 = torch.meshgrid(t[:-1], x[:-1], indexing="ij")
    T1, X1 = torch.meshgrid(t[1:], x[1:], indexing="ij")
    lo = torch.stack([T0.reshape(-1), X0.reshape(-1)], 1)
    hi = torch.stack([T1.reshape(-1), X1.reshape(-1)], 1)
    worst = 0.0
    for i in range(0, lo.shape[0], 2048):
        worst = max(worst, float(residual_bounds(net, pde, lo[i:i + 2048], hi[i:i + 2048]).abs_bound.max()))
    return worst, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--budget", type=float, default=120.0, help="time budget for all three parts [s]")
    ap.add_argument("--quick", action="store_true", help="a 20 s budget (smoke test)")
    ap.add_argument("--target-ratio", type=float, default=1.1)
    args = ap.parse_args()
    budget = 20.0 if args.quick else args.budget
    device = torch.device(args.device)
    pde = get_pde("burgers")
    _, net = load_pinn(MODEL, pde, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"Burgers PINN {MODEL.name} on {name}; budget {budget:.0f} s, target ratio {args.target_ratio}")
    start = time.perf_counter()
    with sound_math():
        results, history = certify_pinn(net, pde, Settings(time_budget=budget, target_ratio=args.target_ratio,
                                                           batch=1024 if device.type == "cpu" else 16384))
    total = time.perf_counter() - start
    print(f"{'part':<10} {'bound':>10} {'bound²':>10} {'empirical':>10} {'ratio':>7} {'boxes':>8} {'time':>8}  stop")
    for part in ("initial", "boundary", "residual"):
        r = results[part]
        e = r.empirical.value
        print(f"{part:<10} {r.bound:>10.4g} {r.bound ** 2:>10.3g} {e:>10.4g} {r.bound / e:>7.3f} {r.boxes:>8} "
              f"{r.time_s:>7.1f}s  {r.stop}")
    print(f"all three parts: {total:.1f} s")
    under = [h for h in history if h[0] == 0 and h[2] <= PAPER_RESIDUAL]
    if under:
        t_paper = under[0][1]
        print(f"residual bound <= {PAPER_RESIDUAL} (the paper's) after {t_paper:.1f} s of the run, "
              f"{under[0][3]} boxes: {PAPER_SECONDS / t_paper:,.0f}x faster than the paper's {PAPER_SECONDS:.1e} s")
    else:
        t_paper = total
        print(f"residual bound did not reach {PAPER_RESIDUAL} within the budget")
    # Baseline: uniform grids, growing until they take about as long as the adaptive run did.
    n = 16
    while True:
        bound, secs = uniform_bound(net, pde, n, device)
        print(f"baseline uniform {n}x{n} grid: bound {bound:.4g} in {secs:.1f} s "
              f"(adaptive/uniform bound ratio {results['residual'].bound / bound:.2e})")
        if secs * 4 > t_paper or n >= 512:
            break
        n *= 2


if __name__ == "__main__":
    main()
