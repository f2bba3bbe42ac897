"""The report's words for randomized smoothing, ANCER and RANCER runs (Qt-free): which noise was
used and what the certificate of a smoothed classifier means. ``content`` calls these for runs of
the smoothing family; everything else in a report is shared with the other families."""
from __future__ import annotations

from typing import Any

from workbench.gui.viewdata import ViewData

REGIONS = {("smoothing", "2"): "an L2 ball of the certified radius (σ·ρ)",
           ("smoothing", "1"): "an L1 ball of the certified radius (σ·ρ)",
           ("ancer", "2"): "an axis-aligned ellipsoid with semi-axes σ_i·ρ",
           ("ancer", "1"): "a generalised cross-polytope {δ : Σ|δ_i|/σ_i ≤ ρ}",
           ("rancer", "2"): "an ellipsoid with semi-axes σ_i·ρ along the loss Hessian's eigenvectors",
           ("rancer", "1"): "a rotated generalised cross-polytope"}


def smoothing_data_rows(data: ViewData) -> list[tuple[str, Any]]:
    """Noise and certificate rows of the data section (in place of an ε-ball)."""
    d, p = data.data, data.params
    norm = str(d.get("norm", p.get("norm", "2")))
    sigma = d.get("sigma", p.get("sigma"))
    method = str(data.payload.get("method", data.record.method))
    if norm == "1":
        noise = f"uniform U[−σ_i, σ_i] per coordinate (half-width), base σ = {sigma}"
        gap = "ρ = 2·(p̲_A − ½)"
    else:
        axis = "eigen-direction" if method == "rancer" else "coordinate"
        noise = f"Gaussian N(0, σ_i²) per {axis}, base σ = {sigma}"
        gap = "ρ = Φ⁻¹(p̲_A)"
    if method == "smoothing":
        noise = noise.replace("σ_i", "σ").replace(" per coordinate", "").replace(", base σ", ", σ")
    rows: list[tuple[str, Any]] = [("smoothing noise", noise)]
    if p.get("n") is not None:
        rows.append(("Monte Carlo", f"n0 = {p.get('n0')} selection and n = {p.get('n')} estimation draws, "
                                    f"α = {p.get('alpha')}"))
    region = REGIONS.get((method, norm), "the method's certified region")
    rows.append(("specification",
                 f"smoothed classifier: with probability ≥ 1 − α it predicts the certified class on {region}, "
                 f"{gap} from the Clopper–Pearson lower bound p̲_A; it abstains when p̲_A ≤ ½"))
    return rows


def smoothing_samples_caption(data: ViewData) -> str:
    bits = ["Per sample: the smoothed classifier's prediction and verdict (certified or abstain), the "
            "certified radius (the largest ball inside the certified region)"]
    if any(s.get("proxy_radius") is not None for s in data.samples):
        bits.append("the proxy radius (the ball of the region's volume)")
    if any(s.get("memory") is not None for s in data.samples):
        bits.append("and the memory pass's decision (kept, shrunk to a ball, or rejected)")
    return ", ".join(bits)
