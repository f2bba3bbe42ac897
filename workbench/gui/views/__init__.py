"""pyqtgraph result views, registered by the names methods list in ``Method.views``."""
from __future__ import annotations

from workbench.gui.views.base import VIEWS, ResultView, register_view, view_class
from workbench.gui.views import certified_accuracy, output_bounds, toy2d  # noqa: F401 - registers
from workbench.gui.views import pinn_conditions, pinn_convergence, pinn_residual  # noqa: F401
from workbench.gui.views import smoothing_accuracy, smoothing_hessian, smoothing_sigma, smoothing_toy2d  # noqa: F401, E501

__all__ = ["VIEWS", "ResultView", "register_view", "view_class"]
