"""PDF reports: the words (Qt-free model) and the file (pages, text, embedded figures)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pypdf = pytest.importorskip("pypdf")

from workbench.data.samples import list_sample_models  # noqa: E402
from workbench.gui import launch  # noqa: E402
from workbench.gui.viewdata import load_view_data  # noqa: E402
from workbench.jobs.store import RunStore, UnknownRunError  # noqa: E402
from workbench.report.content import build_report  # noqa: E402
from workbench.report.document import Figure  # noqa: E402
from workbench.runtime import never_cancelled, no_progress  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _run(store: RunStore, method: str, params: dict, data: dict) -> str:
    model = str(next(m["weights"] for m in list_sample_models() if m["name"] == "moons_relu_mlp"))
    prepared = launch.prepare(store, launch.RunRequest(model, method, params, data))
    return launch.execute(store, prepared, no_progress, never_cancelled)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = RunStore(tmp_path_factory.mktemp("report-workspace"))
    fast = {"attack_steps": 3, "attack_restarts": 1}
    s.ids = {"radius": _run(s, "crown", {"eps": 0.05, "radius": True, **fast},  # type: ignore[attr-defined]
                            {"dataset": "moons", "samples": "90:110"}),
             "all": _run(s, "ibp", {"eps": 0.02, **fast}, {"dataset": "moons", "samples": "0:200:2"})}
    yield s
    s.close()


def pdf_text(path: Path) -> tuple[pypdf.PdfReader, str]:
    reader = pypdf.PdfReader(str(path))
    # Qt's PDFs put tabs between words and use ligatures: normalise before asserting
    text = unicodedata.normalize("NFKC", "\n".join(p.extract_text() for p in reader.pages))
    return reader, re.sub(r"[ \t]+", " ", text)


def test_report_model_says_everything_about_a_run(store):
    data = load_view_data(store, store.ids["radius"])
    fig = Figure(b"png", "a figure", 10, 5)
    report = build_report([(data, [fig])])
    text = report.text()
    titles = [s.title for s in report.sections]
    for title in ("Model", "Data and specification", "Method", "Result summary", "Figures", "Samples",
                  "Environment", "Reproduce"):
        assert title in titles
    record = data.record
    assert data.model is not None and data.model.sha256 in text
    assert "linear → relu → linear → relu → linear" in text
    for name in record.spec["params"]:
        assert name in text  # every parameter is listed
    assert "ε = 0.05 in the L∞ norm" in text and record.command in text
    assert record.environment["torch"] in text and report.figures() == [fig]


def test_write_report_pdf(store, tmp_path):
    from workbench.report import write_report

    out = write_report(store, [store.ids["radius"]], tmp_path / "one.pdf")
    reader, text = pdf_text(out)
    assert reader.metadata.title.startswith("Certification report")
    assert 3 <= len(reader.pages) <= 10
    assert sum(len(p.images) for p in reader.pages) >= 4  # 2 output-bounds samples, accuracy, 2-D
    for words in ("Certification report", "moons_relu_mlp", "SHA-256", "ε = 0.05", "attack_steps",
                  "certified radius", "workbench certify --model", "Environment"):
        assert words in text, words
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


def test_errors_are_one_line_user_errors(store, tmp_path):
    from workbench.report import write_report

    with pytest.raises(UnknownRunError):
        write_report(store, ["no-such-run"], tmp_path / "x.pdf")
    with pytest.raises(ValueError):
        write_report(store, [], tmp_path / "x.pdf")


def test_headless_report_of_several_runs_with_a_paged_table(store, tmp_path):
    """What ``workbench report RUN_ID... -o FILE`` does: no display, no QApplication beforehand;
    two runs in one PDF, the 100-row per-sample table across pages with its header repeated."""
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    out = tmp_path / "cli.pdf"
    code = ("import sys; from workbench.jobs.store import RunStore; from workbench.report import write_report; "
            "write_report(RunStore(sys.argv[1]), sys.argv[3:], sys.argv[2])")
    ids = [store.ids["radius"], store.ids["all"]]
    proc = subprocess.run([sys.executable, "-c", code, str(store.workspace), str(out), *ids],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    reader, text = pdf_text(out)
    assert "2 runs" in text and all(run_id in text for run_id in ids)
    pages = [re.sub(r"\s+", " ", unicodedata.normalize("NFKC", p.extract_text())) for p in reader.pages]
    sample_pages = [p for p in pages if "worst lower bound" in p]
    assert len(sample_pages) >= 3  # 20 + 100 rows: the header is on every page of the table
