"""PDF reports of stored runs: ``write_report(store, run_ids, path)``.

``document`` and ``content`` are Qt-free (the report's words); ``figures`` renders the views and
``pdf`` writes the file with Qt's QTextDocument + QPdfWriter.
"""
from __future__ import annotations


def write_report(store, run_ids, path):  # noqa: ANN001 - re-exported, typed in workbench.report.pdf
    """See :func:`workbench.report.pdf.write_report` (imported lazily: it pulls in Qt)."""
    from workbench.report.pdf import write_report as _write

    return _write(store, run_ids, path)


__all__ = ["write_report"]
