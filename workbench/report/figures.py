"""The report's figures: every registered view of a run's method that applies, rendered to PNG.

Views are Qt widgets, so this runs in the GUI thread (or a headless QApplication for the CLI).
"""
from __future__ import annotations

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QImage

from workbench.gui.result_area import method_views
from workbench.gui.viewdata import ViewData
from workbench.gui.views import view_class
from workbench.report.document import Figure

# Pixels of a figure; printed 180 mm wide. Plot text has a fixed pixel size, so a much larger
# render would print its labels too small to read.
FIGURE_SIZE = (900, 470)


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def render_figures(data: ViewData, size: tuple[int, int] = FIGURE_SIZE) -> list[Figure]:
    figures = []
    for name in method_views(data.record.method):
        cls = view_class(name)
        if cls is None or cls.unavailable(data) is not None:
            continue
        for state in cls.report_states(data):
            image, caption = cls.render_offscreen(data, state, size)
            figures.append(Figure(png_bytes(image), caption, image.width(), image.height()))
    return figures
