"""The result area: the views registered for the selected run's method, in tabs, and a Details tab
(spec, command line, summary, and the traceback of a failed run)."""
from __future__ import annotations

import html
import json

from PySide6.QtWidgets import QLabel, QTabWidget, QTextBrowser, QVBoxLayout, QWidget

from workbench.gui.viewdata import ViewData
from workbench.gui.views import ResultView, view_class
from workbench.jobs import registry
from workbench.jobs.progressbar import format_duration, format_time
from workbench.jobs.store import RunRecord


def method_views(method: str) -> tuple[str, ...]:
    try:
        return registry.get_method(method).views
    except registry.UnknownMethodError:  # a run of a method this installation lacks
        return ()


def details_html(record: RunRecord, data: ViewData | None) -> str:
    e = html.escape
    rows = [("Run", record.id), ("Title", record.title), ("Method", f"{record.method} ({record.family})"),
            ("Status", record.status + (f": {record.message}" if record.message else "")),
            ("Created", format_time(record.created)), ("Duration", format_duration(record.duration))]
    out = ["<table cellspacing=4>"] + [f"<tr><td><b>{e(k)}</b></td><td>{e(str(v))}</td></tr>" for k, v in rows]
    out.append("</table>")
    if record.status in ("queued", "running"):
        out.append("<p><i>The run is in progress (see the runs table); its views appear when it "
                   "finishes.</i></p>")
    if record.command:
        out.append(f"<p><b>Reproduce</b><br><code>{e(record.command)}</code></p>")
    if record.summary:
        out.append("<p><b>Summary</b><br>" + "<br>".join(
            f"{e(k)}: {e(f'{v:.4g}' if isinstance(v, float) else str(v))}" for k, v in record.summary.items()) + "</p>")
    if data is not None and data.notes:
        out.append("<p><b>Notes</b><br>" + "<br>".join(e(n) for n in data.notes) + "</p>")
    out.append(f"<p><b>Spec</b></p><pre>{e(json.dumps(record.spec, indent=1))}</pre>")
    if record.error:
        out.append(f"<p><b>Traceback</b></p><pre style='color:#b00020'>{e(record.error)}</pre>")
    return "".join(out)


class ResultArea(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("resultTabs")
        layout.addWidget(self.tabs)
        self.data: ViewData | None = None
        self.views: dict[str, ResultView] = {}
        # Views draw when their tab is first shown: drawing all of them at once would hold the
        # GUI thread for a few hundred milliseconds on a slow machine.
        self.tabs.currentChanged.connect(self._draw_current)
        self.placeholder("Select a run in the table, or press Run.")

    def placeholder(self, text: str) -> None:
        self._clear()
        label = QLabel(text)
        label.setWordWrap(True)
        label.setStyleSheet("color: #555; font-size: 13pt; padding: 20px;")
        self.tabs.addTab(label, "Result")

    def _clear(self) -> None:
        self.data = None
        self.views = {}
        self.tabs.blockSignals(True)  # no drawing of views that are on their way out
        while self.tabs.count():
            widget = self.tabs.widget(0)
            self.tabs.removeTab(0)
            widget.deleteLater()
        self.tabs.blockSignals(False)

    def show_record(self, record: RunRecord, data: ViewData | None = None) -> None:
        """Tabs for ``record``: its views (when it has a result) and the details."""
        current = self.tabs.tabText(self.tabs.currentIndex()) if self.tabs.count() else ""
        self._clear()
        self.data = data
        if data is not None and record.status == "done":
            for name in method_views(record.method):
                cls = view_class(name)
                if cls is None:
                    self.tabs.addTab(QLabel(f"No view named {name!r} is installed."), name)
                    continue
                view = cls()
                self.views[name] = view
                index = self.tabs.addTab(view, cls.title)
                reason = cls.unavailable(data)
                if reason:  # shown, greyed out, saying why (a missing tab would just puzzle)
                    self.tabs.setTabToolTip(index, reason)
                    self.tabs.setTabEnabled(index, False)
        details = QTextBrowser()
        details.setObjectName("runDetails")
        details.setHtml(details_html(record, data))
        self.tabs.addTab(details, "Details")
        for i in range(self.tabs.count()):  # stay on the tab the user was looking at
            if self.tabs.tabText(i) == current:
                self.tabs.setCurrentIndex(i)
        self._draw_current()

    def _draw_current(self, *_: object) -> None:
        view = self.tabs.currentWidget()
        if isinstance(view, ResultView) and view.data is not self.data:
            view.set_data(self.data)

    def view(self, name: str) -> ResultView:
        """The view registered as ``name``, drawn (tests and the report use it off-screen)."""
        v = self.views[name]
        if v.data is not self.data:
            v.set_data(self.data)
        return v