"""What a run's report says: model, data, method and every parameter, summary, per-sample table,
figures, environment and the command that reproduces it. Qt-free: plain data in, ``Report`` out."""
from __future__ import annotations

import datetime
from typing import Any

from workbench.gui.viewdata import ViewData
from workbench.jobs import registry
from workbench.jobs.progressbar import format_duration, format_time
from workbench.report.document import Code, Figure, Report, Section, Table
from workbench.report import pinn
from workbench.report.smoothing_content import smoothing_data_rows, smoothing_samples_caption

MAX_SAMPLE_ROWS = 5000  # beyond this the table would be a book; the arrays are in the run folder


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return "-" if value is None or value == "" else str(value)


def _kv(rows: list[tuple[str, Any]], caption: str = "") -> Table:
    return Table(["", ""], [[k, _fmt(v)] for k, v in rows], caption, key_value=True)


def model_section(data: ViewData) -> Section:
    spec_model = str(data.record.spec.get("model", "-"))
    m = data.model
    if m is None:
        return Section("Model", [f"Network file {spec_model} (it cannot be loaded now; see notes)."])
    rows: list[tuple[str, Any]] = [("name", m.name), ("file", m.path), ("SHA-256", m.sha256),
                                   ("architecture", m.architecture),
                                   ("input shape", " × ".join(map(str, m.input_shape))),
                                   ("outputs", m.outputs), ("parameters", f"{m.parameters:,}")]
    if m.manifest.get("kind") == "pinn":  # a sample PINN: trained for a PDE, not on a dataset
        rows += pinn.manifest_rows(m.manifest)
    elif m.manifest:
        rows.append(("trained on", (m.manifest.get("dataset") or {}).get("name")))
        rows.append(("test accuracy", m.manifest.get("test_accuracy")))
    layers = Table(["#", "layer", "operator", "output shape", "parameters"],
                   [[str(r["index"]), str(r["name"]), str(r["op"]), " × ".join(map(str, r["shape"])),
                     f"{r['parameters']:,}"] for r in m.layers], "Layers")
    return Section("Model", [_kv(rows), layers])


def data_section(data: ViewData) -> Section:
    d = data.data
    rows: list[tuple[str, Any]] = []
    for key in ("dataset", "input", "labels", "vnnlib", "samples", "cases"):
        if d.get(key) is not None:
            rows.append((key, d[key]))
    if data.classes:
        rows.append(("classes", ", ".join(data.classes)))
    if data.eps is not None:
        rows.append(("perturbation", f"ε = {data.eps:g} in the L{'∞' if data.norm == 'inf' else data.norm} norm"))
    if d.get("clip") is not None:
        rows.append(("valid input range", f"[{d['clip'][0]:g}, {d['clip'][1]:g}]"))
    kinds = {"robust": "robust classification: every margin y_true − y_j > 0 over the ball",
             "outputs": "bounds on the raw outputs", "vnnlib": "the VNN-LIB property's constraints"}
    if data.record.family == "smoothing":  # noise and a smoothed classifier, not an ε-ball
        rows += smoothing_data_rows(data)
    else:
        rows.append(("specification", kinds.get(data.spec_kind, data.spec_kind)))
    return Section("Data and specification", [_kv(rows)])


def method_section(data: ViewData) -> Section:
    record = data.record
    try:
        method = registry.get_method(record.method)
        specs = {s.name: s for s in registry.param_specs(method.params)}
        blocks: list[Any] = [f"{method.title} ({method.name}, family {method.family}). {method.description}"]
    except registry.UnknownMethodError:
        specs, blocks = {}, [f"Method {record.method} (not installed here)."]
    params = data.params or record.spec.get("params") or {}
    rows = []
    for name, value in params.items():
        s = specs.get(name)
        rows.append([name, _fmt(value), s.unit if s else "", s.help if s else ""])
    blocks.append(Table(["parameter", "value", "unit", "meaning"], rows, "All parameters"))
    return Section("Method", blocks)


def summary_section(data: ViewData) -> Section:
    r = data.record
    rows: list[tuple[str, Any]] = [("status", r.status + (f" ({r.message})" if r.message else "")),
                                   ("started", format_time(r.started)), ("duration", format_duration(r.duration))]
    rows += [(k.replace("_", " "), f"{v:.2%}" if k.endswith("fraction") or k.endswith("accuracy") else v)
             for k, v in r.summary.items()]
    timing = data.payload.get("timing") or {}
    rows += [(f"time: {k.removesuffix('_s')}", format_duration(v)) for k, v in timing.items()]
    blocks: list[Any] = [_kv(rows)]
    if data.notes:
        blocks += [f"Note: {n}" for n in data.notes]
    if r.error:
        blocks += ["The run failed; its traceback:", Code(r.error)]
    return Section("Result summary", blocks)


# Per-sample columns shown only when some sample has the key (bound runs have none of them).
OPTIONAL_COLUMNS = [("proxy_radius", "proxy radius"), ("p_lower", "p_A lower bound"), ("memory", "memory")]


def _predicted(data: ViewData, k: Any) -> str:
    """A class name; "-" for none (an abstaining smoothed classifier predicts -1)."""
    return "-" if k is None or (isinstance(k, int) and k < 0) else data.class_name(k)


def samples_section(data: ViewData) -> Section | None:
    samples = data.samples
    if not samples:
        return None
    has_label = any("label" in s for s in samples)
    has_bounds = any("lower" in s or "upper" in s for s in samples)
    extra = [(key, title) for key, title in OPTIONAL_COLUMNS if any(s.get(key) is not None for s in samples)]
    header = ["row", "index"] + (["true class", "predicted"] if has_label else []) + \
        ["verdict", "certified radius"] + [title for _, title in extra] + \
        (["worst lower bound", "best upper bound"] if has_bounds else [])
    rows = []
    for i, s in enumerate(samples[:MAX_SAMPLE_ROWS]):
        row = [str(i), _fmt(s.get("index"))]
        if has_label:
            row += [data.class_name(s.get("label")), _predicted(data, s.get("prediction"))]
        row += [str(s.get("status")), _fmt(s.get("radius"))] + [_fmt(s.get(key)) for key, _ in extra]
        if has_bounds:
            lower, upper = s.get("lower") or [], s.get("upper") or []
            row += [_fmt(min(lower) if lower else None), _fmt(max(upper) if upper else None)]
        rows.append(row)
    if data.record.family == "smoothing":
        caption = smoothing_samples_caption(data)
    else:
        what = "margins y_true − y_j" if data.spec_kind == "robust" else "bounded quantities"
        caption = f"Per sample: the worst lower and best upper bound over the {what}"
    caption += f" (first {MAX_SAMPLE_ROWS} of {len(samples)})" if len(samples) > MAX_SAMPLE_ROWS else ""
    return Section("Samples", [Table(header, rows, caption)], page_break=True)


def environment_section(data: ViewData) -> Section:
    env = data.record.environment
    rows = [(k.replace("_", " "), v) for k, v in env.items()]
    rows.append(("host / process", f"{data.record.host} / {data.record.pid}"))
    return Section("Environment", [_kv(rows)])


def run_sections(data: ViewData, figures: list[Figure]) -> list[Section]:
    """The sections of one run, in reading order."""
    r = data.record
    head = Section(f"Run {r.id}: {r.title}", [f"Status {r.status}; created {format_time(r.created)}."],
                   level=1)
    if pinn.is_pinn(data):  # the PDE is the "data"; the certificate table follows the summary
        sections = [head, model_section(data), pinn.pde_section(data), method_section(data),
                    summary_section(data), pinn.certificate_section(data)]
    else:
        sections = [head, model_section(data), data_section(data), method_section(data),
                    summary_section(data)]
    if figures:
        sections.append(Section("Figures", list(figures), page_break=True))
    table = samples_section(data)
    if table is not None:
        sections.append(table)
    sections.append(environment_section(data))
    sections.append(Section("Reproduce", ["This command re-runs the job with every parameter spelled out:",
                                          Code(r.command or "(no command recorded)")]))
    return sections


def build_report(items: list[tuple[ViewData, list[Figure]]]) -> Report:
    """One report for one or more runs (each run starts on a new page)."""
    if not items:
        raise ValueError("no runs to report")
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    if len(items) == 1:
        title = f"Certification report: {items[0][0].record.title}"
    else:
        title = f"Certification report: {len(items)} runs"
    report = Report(title, f"Written {now} by the certification workbench")
    for k, (data, figures) in enumerate(items):
        sections = run_sections(data, figures)
        sections[0].page_break = k > 0
        report.sections += sections
    return report
