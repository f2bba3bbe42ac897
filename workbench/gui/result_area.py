"""The result area: the views registered for the selected run's method, in tabs, and a Details tab
(spec, command line, summary, and the traceback of a failed run)."""
from __future__ import annotations

import html
import json
import re

from PySide6.QtWidgets import QLabel, QTabWidget, QTextBrowser, QVBoxLayout, QWidget

from workbench.gui.pinndata import Series
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


def base_title(tab: str) -> str:
    """A tab's title without the "(live)" / "(until cancelled)" of a live view."""
    return re.sub(r" \((live|until \w+)\)$", "", tab)


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
        self.live_run: str | None = None  # the run whose live view (if any) is shown
        self._placeholder: str | None = None  # while a placeholder shows: the tab shown before it
        self._shown: tuple[str, str] | None = None  # (run id, status) of the record on show
        # Views draw when their tab is first shown: drawing all of them at once would hold the
        # GUI thread for a few hundred milliseconds on a slow machine.
        self.tabs.currentChanged.connect(self._draw_current)
        self.placeholder("Select a run in the table, or press Run.")

    def placeholder(self, text: str) -> None:
        if self._placeholder is None:  # "Loading…" must not make show_record forget the tab
            self._placeholder = self._current_title()
        self._clear()
        label = QLabel(text)
        label.setWordWrap(True)
        label.setStyleSheet("color: #555; font-size: 13pt; padding: 20px;")
        self.tabs.addTab(label, "Result")

    def _current_title(self) -> str:
        return self.tabs.tabText(self.tabs.currentIndex()) if self.tabs.count() else ""

    def _clear(self) -> None:
        self.data = None
        self.views = {}
        self.live_run = None
        self.tabs.blockSignals(True)  # no drawing of views that are on their way out
        while self.tabs.count():
            widget = self.tabs.widget(0)
            self.tabs.removeTab(0)
            widget.deleteLater()
        self.tabs.blockSignals(False)

    def show_record(self, record: RunRecord, data: ViewData | None = None,
                    live: dict[str, Series] | None = None) -> None:
        """Tabs for ``record``: its views (when it has a result) and the details. ``live``: the
        points a running (or stopped) run reported, shown by the views that can draw them."""
        current = self._current_title() if self._placeholder is None else self._placeholder
        self._placeholder = None
        if self._shown is not None and self._shown[0] == record.id and self._shown[1] != "done" \
                and record.status == "done" and current == "Details":
            current = ""   # the run just finished: its details were all there was, show its result
        self._shown = (record.id, record.status)
        self._clear()
        self.data = data
        if live is not None and record.status != "done":
            self._add_live_views(record, live)
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
        # Stay on the tab the user was looking at (a live view's finished twin counts as the same
        # tab), except that a running run's live plot comes first.
        if self.live_run is None:
            for i in range(self.tabs.count()):
                if base_title(self.tabs.tabText(i)) == base_title(current):
                    self.tabs.setCurrentIndex(i)
        self._draw_current()

    def _add_live_views(self, record: RunRecord, live: dict[str, Series]) -> None:
        for name in method_views(record.method):
            cls = view_class(name)
            if cls is None or not getattr(cls, "live_capable", False):
                continue
            view = cls()
            self.views[name] = view
            self.tabs.addTab(view, f"{cls.title} (live)" if record.status in ("queued", "running")
                             else f"{cls.title} (until {record.status})")
            view.set_live(live)
            self.live_run = record.id

    def update_live(self, run_id: str, live: dict[str, Series]) -> None:
        """New live points of ``run_id``: redraw its live views if they are the ones shown."""
        if run_id != self.live_run:
            return
        for view in self.views.values():
            if getattr(view, "live_capable", False):
                view.set_live(live)

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