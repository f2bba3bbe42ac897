"""Render the main window in its key states to PNG (for the README and for looking at the UI).

    python tools/screenshots.py [--out docs/screenshots]

Runs offscreen on a fresh temporary workspace and settings, so it never touches the user's runs.
Each state is reached through the window's own API (the same calls the GUI tests make).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SIZE = (1440, 900)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="output folder")
    parser.add_argument("--pinn-method", default="d-crown",
                        help="the PINN method of the PINN states (skipped when not registered)")
    parser.add_argument("--pinn-params", default='{"time_budget": 20}',
                        help="its parameters as JSON (default: a 20 s budget, for a quick picture)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="workbench-shots-"))
    os.environ["WORKBENCH_SETTINGS_DIR"] = str(tmp / "settings")

    from workbench.gui.app import application
    from workbench.gui.main_window import MainWindow
    from workbench.jobs.store import RunStore

    app = application()

    def wait(predicate: Callable[[], bool], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the window did not reach the expected state")
            app.processEvents()
            time.sleep(0.01)

    def settle(seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    def shot(name: str) -> None:
        settle()
        path = out / f"{name}.png"
        window.grab().save(str(path))
        print(path)

    def run(params: dict) -> str:
        window.method.set_values(params)
        run_id = window.start_run()
        assert run_id is not None, window.statusBar().currentMessage()
        wait(lambda: run_id not in window.live_runs)
        wait(lambda: window.result.data is not None and window.result.data.record.id == run_id)
        return run_id

    store = RunStore(tmp / "workspace")
    window = MainWindow(store, confirm=lambda parent, question: True)
    window.resize(*SIZE)
    window.show()
    shot("01-start")

    window.models.select_sample("moons_relu_mlp")
    wait(lambda: window.models.info is not None)
    window.data_panel.set_range(0, 200)
    window.data_panel.preview_index.setValue(120)
    shot("02-model-and-data")

    fast = {"attack_steps": 5, "attack_restarts": 2}
    for eps in (0.02, 0.1):  # earlier runs: points of the accuracy-vs-eps plot
        run({"eps": str(eps), "radius": False, **fast})
    window.data_panel.set_range(0, 200)
    window.method.set_values({"eps": "0.05", "radius": True, "batch_size": 8, **fast})
    running = window.start_run()
    wait(lambda: window.runs.model._live.get(running, (0.0, ""))[0] > 0.2)
    shot("03-running")
    wait(lambda: running not in window.live_runs)
    wait(lambda: window.result.data is not None and window.result.data.record.id == running)
    bounds = window.result.view("output_bounds")
    falsified = [i for i, s in enumerate(window.result.data.samples) if s["status"] != "verified"]
    bounds.select_sample(falsified[0] if falsified else 0)
    shot("04-output-bounds")
    for index, name in ((1, "05-certified-accuracy"), (2, "06-decision-regions")):
        window.result.tabs.setCurrentIndex(index)
        shot(name)

    window.models.select_sample("digits_cnn")
    wait(lambda: window.models.info is not None and window.models.info.name == "digits_cnn")
    window.data_panel.set_selection({"dataset": "digits", "samples": "0:40"})
    window.data_panel.preview_index.setValue(3)
    window.result.tabs.setCurrentIndex(0)
    run({"eps": "0.02", "radius": False, "batch_size": 128, **fast})
    window.result.view("output_bounds").select_sample(3)
    shot("07-digits-output-bounds")

    window.result.tabs.setCurrentIndex(window.result.tabs.count() - 1)
    shot("08-run-details")

    pinn_states(window, args.pinn_method, json.loads(args.pinn_params), wait, shot)
    smoothing_states(window, wait, shot)

    window.close()
    window.deleteLater()
    settle(0.1)
    store.close()
    return 0


def pinn_states(window, method: str, params: dict, wait: Callable, shot: Callable[[str], None]) -> None:
    """A PINN sample model (its PDE picked for it), the live convergence plot, and the views."""
    from workbench.jobs import registry

    if method not in [m.name for m in registry.list_methods("pinn")]:
        print(f"skipped the PINN states: no PINN method {method!r} is registered")
        return
    window.models.select_sample("pinn_burgers")
    wait(lambda: window.models.info is not None and window.models.info.name == "pinn_burgers")
    window.method.set_method(method)
    window.method.set_values(params)
    shot("09-pinn-model-and-pde")
    run_id = window.start_run()
    assert run_id is not None, window.statusBar().currentMessage()
    wait(lambda: window.live.count(run_id) >= 3 or run_id not in window.live_runs, timeout=600)
    shot("10-pinn-live-convergence")
    wait(lambda: run_id not in window.live_runs, timeout=600)
    wait(lambda: window.result.data is not None and window.result.data.record.id == run_id)
    for index, name in enumerate(("11-pinn-residual", "12-pinn-conditions", "13-pinn-convergence")):
        window.result.tabs.setCurrentIndex(index)
        shot(name)


# Small Monte-Carlo budgets: the pictures, not the tightest certificates (seconds per run on a CPU).
SMOOTHING_FAST = {"n0": "64", "n": "2000", "iso_iterations": "30", "aniso_iterations": "20",
                  "opt_samples": "32"}


def smoothing_states(window, wait: Callable, shot: Callable[[str], None]) -> None:
    """Cohen, ANCER and RANCER on the 2-D moons (the regions, the accuracy comparison, the Hessian
    directions), then ANCER on digits (σ per pixel)."""
    from workbench.jobs import registry

    if {"smoothing", "ancer", "rancer"} - {m.name for m in registry.list_methods("smoothing")}:
        print("skipped the smoothing states: the smoothing methods are not registered")
        return

    def run(model: str, method: str, params: dict, data: dict) -> None:
        window.models.select_sample(model)
        wait(lambda: window.models.info is not None and window.models.info.name == model)
        window.data_panel.set_selection(data)
        window.method.set_method(method)
        window.method.set_values(params)
        run_id = window.start_run()
        assert run_id is not None, window.statusBar().currentMessage()
        wait(lambda: run_id not in window.live_runs, timeout=600)
        wait(lambda: window.result.data is not None and window.result.data.record.id == run_id)

    def tab(title: str) -> None:
        tabs = window.result.tabs
        tabs.setCurrentIndex(next(i for i in range(tabs.count()) if tabs.tabText(i) == title))

    moons = {"dataset": "moons", "samples": "85:115"}  # both classes, near the boundary
    run("moons_relu_mlp", "smoothing", {"sigma": "0.3", "n0": "64", "n": "2000"}, moons)
    run("moons_relu_mlp", "ancer", {"sigma": "0.3", **SMOOTHING_FAST}, moons)
    run("moons_relu_mlp", "rancer", {"sigma": "0.3", **SMOOTHING_FAST}, moons)
    for title, name in (("2-D certified regions", "20-rancer-regions"),
                        ("Certified accuracy (smoothing)", "21-smoothing-accuracy"),
                        ("Hessian directions", "22-rancer-hessian")):
        tab(title)
        shot(name)
    run("digits_relu_mlp", "ancer", {"sigma": "0.25", **SMOOTHING_FAST}, {"dataset": "digits", "samples": "0:20"})
    tab("Smoothing σ per pixel")
    shot("23-ancer-digits-sigma")


if __name__ == "__main__":
    raise SystemExit(main())
