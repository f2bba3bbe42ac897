"""What a PINN run's report says beyond the common sections: the PDE that was certified, and the
certificate table (certified bound vs empirical maximum per part), with the reminder of what the
certificate does not cover (``../shared/notes/pinn.md`` §1). Qt-free."""
from __future__ import annotations

from typing import Any

from workbench.gui.pinndata import NOT_SOLUTION_ERROR, PART_TITLES, PARTS, as_float, fmt
from workbench.gui.viewdata import ViewData
from workbench.jobs.progressbar import format_duration
from workbench.report.document import Section, Table


def is_pinn(data: ViewData) -> bool:
    return data.record.family == "pinn"


def manifest_rows(manifest: dict[str, Any]) -> list[tuple[str, Any]]:
    """What a sample PINN's manifest says about its training (for the model section)."""
    pde = manifest.get("pde") or {}
    return [("trained for", pde.get("title") or pde.get("name")),
            ("relative L2 error", manifest.get("relative_l2"))]


def pde_section(data: ViewData) -> Section:
    """The problem: residual, domain, initial and boundary conditions, parameters."""
    pde = data.payload.get("pde") or {}
    if not pde:  # a run without its PDE description: name what was asked for
        return Section("PDE", [f"PDE {data.data.get('pde', '-')} (no description stored with the run)."])
    dom = pde.get("domain") or {}
    rows: list[list[str]] = [["PDE", f"{pde.get('title', '')} ({pde.get('name', '')})"],
                             ["residual f", str(pde.get("residual", "-"))]]
    for k in ("t", "x"):
        if k in dom:
            rows.append([f"domain of {k}", f"[{dom[k][0]:g}, {dom[k][1]:g}]"])
    order = ((data.payload.get("network") or {}).get("input_order") or data.payload.get("input_order")
             or pde.get("input_order") or [])
    rows.append(["network input order", ", ".join(order)])
    rows.append(["outputs", ", ".join(pde.get("outputs") or [])])
    rows.append(["initial condition", str(pde.get("initial_condition", "-"))])
    for bc in pde.get("boundary_conditions") or []:
        when = f", for t ≥ {bc['t_min']:g}" if bc.get("t_min") is not None else ""
        rows.append([f"boundary condition {bc.get('name', '')}",
                     f"{bc.get('formula', '')} ({bc.get('kind', '')}{when})"])
    for name, value in (pde.get("parameters") or {}).items():
        rows.append([f"parameter {name}", fmt(value, ".6g")])
    if pde.get("output_activation"):
        rows.append(["output activation", str(pde["output_activation"])])
    return Section("PDE", [Table(["", ""], rows, key_value=True)])


def _row(label: str, part: dict[str, Any]) -> list[str]:
    boxes = as_float(part.get("boxes"))
    time_s = as_float(part.get("time_s"))
    return [label, fmt(part.get("bound"), ".4g"), fmt(part.get("empirical_max"), ".4g"),
            fmt(part.get("ratio"), ".3g"), fmt(part.get("bound_squared"), ".3g"),
            fmt(part.get("empirical_squared"), ".3g"), "-" if boxes is None else f"{int(boxes):,}",
            "-" if time_s is None else format_duration(time_s), str(part.get("stop") or "-")]


def certificate_section(data: ViewData) -> Section:
    """Per part: certified bound, empirical maximum, their ratio, squares, boxes, time, stop."""
    rows, uncertified = [], []
    for name in PARTS:
        part = (data.pinn.part(name) if data.pinn is not None else data.payload.get(name)) or {}
        if not part:
            continue
        rows.append(_row(PART_TITLES[name], part))
        for bc, sub in (part.get("conditions") or {}).items():  # each boundary condition
            rows.append(_row(f"boundary {bc}", sub))
        bad = int(as_float(part.get("uncertified_boxes")) or 0)
        if bad:
            uncertified.append(f"{bad:,} {name} box{'es' if bad > 1 else ''}")
    header = ["part", "certified bound", "empirical max", "ratio", "bound²", "empirical²", "boxes",
              "time", "stop"]
    blocks: list[Any] = [
        "∂-CROWN bounds the largest error of the network over the whole continuous domain; the "
        "empirical maximum is the largest error found by dense sampling. A sound bound is never "
        "below the empirical maximum; the ratio says how tight it is. The squared columns are the "
        "quantities the ∂-CROWN paper reports.",
        Table(header, rows, "Certified bounds and empirical maxima of the residual |f|, the "
              "initial-condition error and the boundary-condition errors"),
        NOT_SOLUTION_ERROR]
    if uncertified:  # their bound is +inf, and so is the part's
        blocks.insert(2, "Not certified (bound ∞ when the run stopped): " + ", ".join(uncertified) + ".")
    res = (data.pinn.part("residual") if data.pinn is not None else data.payload.get("residual")) or {}
    point = res.get("empirical_point") or {}
    if point.get("t") is not None and point.get("x") is not None:
        blocks.insert(2, f"The largest residual found is at t = {point['t']:.4g}, x = {point['x']:.4g}.")
    return Section("Certificate", blocks)
