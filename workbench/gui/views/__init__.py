"""pyqtgraph result views, registered by the names methods list in ``Method.views``."""
from __future__ import annotations

from workbench.gui.views.base import VIEWS, ResultView, register_view, view_class
from workbench.gui.views import certified_accuracy, output_bounds, toy2d  # noqa: F401 - registers

__all__ = ["VIEWS", "ResultView", "register_view", "view_class"]
