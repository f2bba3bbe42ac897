"""Train smooth_moons_sigma0.25: a 2-50-50-2 ReLU MLP on two moons with Gaussian noise sigma = 0.25 (seconds)."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # for smoothing_common.py
from smoothing_common import SmoothConfig, main  # noqa: E402

ARCH = {"input_shape": [2],
        "layers": [{"type": "linear", "in": 2, "out": 50}, {"type": "relu"},
                   {"type": "linear", "in": 50, "out": 50}, {"type": "relu"},
                   {"type": "linear", "in": 50, "out": 2}]}
CONFIG = SmoothConfig(dataset="moons", sigma=0.25, epochs=100, lr=1e-2, batch_size=64, seed=0,
                      description="2-50-50-2 ReLU MLP on two moons, trained under Gaussian noise "
                                  "sigma = 0.25 for randomized smoothing")

if __name__ == "__main__":
    main(__file__, ARCH, CONFIG)
