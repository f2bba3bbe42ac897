"""PDF reports with Qt's own ``QTextDocument`` + ``QPdfWriter``: no extra dependency, selectable
text, embedded fonts (the bundled DejaVu Sans, so ε and ∞ render everywhere), page numbers, and
table headers repeated on every page of a long table.

``write_report(store, run_ids, path)`` is the one call the CLI (``workbench report``) and the GUI
need. The GUI splits it: figures are rendered in the GUI thread (``render_figures``) and the PDF is
written in a worker (``render_pdf``), which Qt allows for ``QTextDocument`` and ``QPdfWriter``.
"""
from __future__ import annotations

import html
import os
import shlex
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QMarginsF, QUrl
from PySide6.QtGui import QFont, QImage, QPageLayout, QPageSize, QPdfWriter, QTextDocument

from workbench.report.document import Code, Figure, Report, Table

PRINT_WIDTH_PX = 660  # usable A4 width at the document's 96 dpi layout (180 mm)
CODE_COLUMNS = 92     # characters of the monospace code font that fit that width
CSS = """
h1 { font-size: 16pt; margin-bottom: 2px; }
h2 { font-size: 13pt; margin-top: 14px; color: #1f3b63; }
h3 { font-size: 11pt; margin-top: 10px; color: #1f3b63; }
p.sub { color: #555555; }
table.grid { border-collapse: collapse; }
table.grid { font-size: 8pt; }
table.grid th { background-color: #e8edf4; text-align: left; }
td.key { color: #444444; padding-right: 8px; }
p.caption { color: #444444; font-size: 8pt; }
pre { font-size: 8pt; }
"""


def _table(t: Table) -> str:
    e = html.escape
    out = []
    if t.caption:
        out.append(f"<p><i>{e(t.caption)}</i></p>")
    if t.key_value:
        rows = "".join(f"<tr><td class='key'>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in t.rows)
        out.append(f"<table cellspacing='0' cellpadding='2'>{rows}</table>")
        return "".join(out)
    head = "".join(f"<th>{e(h)}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in t.rows)
    # <thead> becomes the table's header row count: Qt repeats it on every page
    out.append(f"<table class='grid' border='1' cellspacing='0' cellpadding='2' width='100%'>"
               f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return "".join(out)


def to_html(report: Report, image_names: dict[int, str]) -> str:
    e = html.escape
    parts = [f"<h1>{e(report.title)}</h1>"]
    if report.subtitle:
        parts.append(f"<p class='sub'>{e(report.subtitle)}</p>")
    for section in report.sections:
        style = " style='page-break-before: always'" if section.page_break else ""
        tag = "h2" if section.level == 1 else "h3"
        parts.append(f"<{tag}{style}>{e(section.title)}</{tag}>")
        for block in section.blocks:
            if isinstance(block, str):
                parts.append(f"<p>{e(block)}</p>")
            elif isinstance(block, Table):
                parts.append(_table(block))
            elif isinstance(block, Code):
                parts.append(f"<pre>{e(wrap_command(block.text))}</pre>")
            elif isinstance(block, Figure):
                height = round(block.height * PRINT_WIDTH_PX / max(1, block.width))
                parts.append(f"<p><img src='{image_names[id(block)]}' width='{PRINT_WIDTH_PX}' "
                             f"height='{height}'></p><p class='caption'>{e(block.caption)}</p>")
    return "".join(parts)


def wrap_command(text: str, width: int = CODE_COLUMNS) -> str:
    """A long shell command broken at argument boundaries with ``\\`` continuations, so it
    still runs when pasted (a ``<pre>`` block does not wrap, and would run off the page)."""
    lines = []
    for line in text.splitlines() or [""]:
        try:
            tokens = [shlex.quote(t) for t in shlex.split(line)]
        except ValueError:   # not shell syntax: leave it
            tokens = []
        if len(line) <= width or not tokens:
            lines.append(line)
            continue
        grouped = []   # a flag and its value stay on one line
        for token in tokens:
            if grouped and grouped[-1].startswith("--") and " " not in grouped[-1] and not token.startswith("-"):
                grouped[-1] += " " + token
            else:
                grouped.append(token)
        tokens = grouped
        current = tokens[0]
        for token in tokens[1:]:
            if len(current) + 1 + len(token) > width - 2:
                lines.append(current + " \\")
                current = "    " + token
            else:
                current += " " + token
        lines.append(current)
    return "\n".join(lines)


def render_pdf(report: Report, path: str | os.PathLike) -> Path:
    """Write ``report`` to ``path`` (safe in a worker thread: no widgets involved)."""
    from workbench.gui.dialogs import load_bundled_font

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    doc = QTextDocument()
    doc.setDefaultFont(QFont(load_bundled_font(), 9))
    doc.setDefaultStyleSheet(CSS)
    names: dict[int, str] = {}
    for k, figure in enumerate(report.figures()):
        names[id(figure)] = f"figure-{k}.png"
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(names[id(figure)]),
                        QImage.fromData(figure.png, "PNG"))
    doc.setHtml(to_html(report, names))
    doc.setMetaInformation(QTextDocument.MetaInformation.DocumentTitle, report.title)
    writer = QPdfWriter(str(tmp))
    writer.setTitle(report.title)
    writer.setCreator("certification workbench")
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    # print_() adds its own 2 cm margins; the writer adds little so tables keep their width
    writer.setPageMargins(QMarginsF(4, 4, 4, 4), QPageLayout.Unit.Millimeter)
    doc.print_(writer)  # paginates, and numbers the pages
    del writer  # the file is complete only once the writer is gone
    os.replace(tmp, path)  # a reader never sees half a report
    return path


def _application() -> object:
    """A QApplication for the views; headless (offscreen) when the CLI calls without a GUI."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QApplication(["workbench-report"])
    return app


def write_report(store: object, run_ids: Sequence[str], path: str | os.PathLike) -> Path:
    """Write one PDF for the runs ``run_ids`` of ``store`` (a ``RunStore``); returns the path.

    Raises ``UnknownRunError`` for an unknown id and ``ValueError`` for an empty selection.
    Must be called from the thread that owns the QApplication (or with none existing).
    """
    from workbench.gui.viewdata import load_view_data
    from workbench.report.content import build_report
    from workbench.report.figures import render_figures

    if not run_ids:
        raise ValueError("no runs to report")
    _application()
    items = []
    for run_id in run_ids:
        data = load_view_data(store, run_id)  # type: ignore[arg-type]
        items.append((data, render_figures(data)))
    return render_pdf(build_report(items), path)


__all__ = ["write_report", "render_pdf"]
