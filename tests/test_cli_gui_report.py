"""`workbench` (no command) and `workbench gui` open the window; `workbench report` writes a PDF."""
from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pypdf = pytest.importorskip("pypdf")

import workbench.gui  # noqa: E402
from workbench.data.samples import sample_models_dir  # noqa: E402
from workbench.gui import app  # noqa: E402
from workbench.jobs import cli  # noqa: E402
from workbench.jobs.store import RunStore  # noqa: E402


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # the contract: one line, no traceback
    return err[0]


@pytest.fixture(scope="module")
def crown_run(tmp_path_factory) -> tuple[str, str]:
    """A real CROWN run of the bundled moons model, made through the CLI: (workspace, run id)."""
    ws = str(tmp_path_factory.mktemp("cli-report-ws"))
    model = sample_models_dir() / "moons_relu_mlp" / "model.pt"
    code = cli.main(["--workspace", ws, "certify", "--model", str(model), "--method", "crown",
                     "--dataset", "moons", "--samples", "0:10", "--eps", "0.05",
                     "--attack-steps", "5", "--attack-restarts", "1"])
    assert code == 0
    with RunStore(ws) as store:
        (record,) = store.list()
    assert record.status == "done" and record.method == "crown"
    return ws, record.id


def pdf_text(path: Path) -> tuple[pypdf.PdfReader, str]:
    reader = pypdf.PdfReader(str(path))
    # Qt's PDFs put tabs between words and use ligatures: normalise before asserting
    text = unicodedata.normalize("NFKC", "\n".join(p.extract_text() for p in reader.pages))
    return reader, re.sub(r"[ \t]+", " ", text)


def test_report_writes_a_pdf_of_a_crown_run(crown_run, tmp_path, capsys):
    ws, run_id = crown_run
    out = tmp_path / "crown.pdf"
    capsys.readouterr()
    assert cli.main(["--workspace", ws, "report", run_id[:-1], "-o", str(out)]) == 0  # a prefix
    assert capsys.readouterr().out.strip() == str(out)
    reader, text = pdf_text(out)
    assert len(reader.pages) >= 1
    assert run_id in text
    assert "CROWN" in text and "--method crown" in text
    assert "moons_relu_mlp" in text


def test_report_user_errors_are_one_line_exit_2(crown_run, tmp_path, capsys):
    ws, run_id = crown_run
    out = tmp_path / "x.pdf"
    assert cli.main(["--workspace", ws, "report", "no-such-run", "-o", str(out)]) == 2
    assert error_line(capsys).startswith("workbench: error: no run matching 'no-such-run'")
    assert cli.main(["--workspace", ws, "report", run_id, "no-such-run", "-o", str(out)]) == 2
    assert "no-such-run" in error_line(capsys)
    assert not out.exists()
    assert cli.main(["--workspace", ws, "report", run_id, "-o", str(tmp_path / "missing" / "x.pdf")]) == 2
    assert "does not exist" in error_line(capsys)
    assert cli.main(["--workspace", ws, "report", run_id]) == 2  # -o is required
    assert "-o" in error_line(capsys)


@pytest.fixture
def window_calls(monkeypatch) -> list:
    """Replace the window's entry point: record its argv instead of opening a window."""
    calls: list = []

    def fake_main(argv=None):
        calls.append(argv)
        return 0

    monkeypatch.setattr(app, "main", fake_main)
    return calls


def test_no_command_opens_the_window(window_calls, tmp_path):
    assert cli.main([]) == 0
    assert window_calls == [[]]
    ws = str(tmp_path / "ws")
    assert cli.main(["--workspace", ws]) == 0
    assert window_calls[-1] == ["--workspace", ws]  # the workspace is passed through


def test_gui_command_opens_the_window(window_calls, tmp_path):
    ws = str(tmp_path / "ws")
    assert cli.main(["--workspace", ws, "gui"]) == 0
    assert cli.main(["gui"]) == 0
    assert window_calls == [["--workspace", ws], []]


def test_window_exit_code_is_returned(monkeypatch):
    monkeypatch.setattr(app, "main", lambda argv=None: 3)
    assert cli.main([]) == 3


def test_window_without_pyside6_is_one_line_exit_2(monkeypatch, capsys):
    # What a missing binding looks like from the CLI: importing the window module fails.
    monkeypatch.delattr(workbench.gui, "app", raising=False)
    monkeypatch.setitem(sys.modules, "workbench.gui.app", None)
    assert cli.main([]) == 2
    assert error_line(capsys).startswith("workbench: error: the window needs PySide6 (")
    assert cli.main(["gui"]) == 2
    assert error_line(capsys).startswith("workbench: error: the window needs PySide6 (")


def test_window_without_a_display_is_one_line_exit_2(window_calls, monkeypatch, capsys):
    monkeypatch.setattr(sys, "platform", "linux")
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main([]) == 2
    assert error_line(capsys).startswith("workbench: error: the window needs a display")
    assert window_calls == []  # Qt was never asked: it would abort the process
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert cli.main([]) == 0 and window_calls == [[]]
