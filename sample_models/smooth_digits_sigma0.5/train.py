"""Train smooth_digits_sigma0.5: a 64-128-64-10 ReLU MLP on 8x8 digits with Gaussian noise sigma = 0.5 (seconds)."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # for smoothing_common.py
from smoothing_common import SmoothConfig, main  # noqa: E402

ARCH = {"input_shape": [1, 8, 8],
        "layers": [{"type": "flatten"},
                   {"type": "linear", "in": 64, "out": 128}, {"type": "relu"},
                   {"type": "linear", "in": 128, "out": 64}, {"type": "relu"},
                   {"type": "linear", "in": 64, "out": 10}]}
CONFIG = SmoothConfig(dataset="digits", sigma=0.5, epochs=60, lr=3e-3, batch_size=64, seed=0,
                      description="64-128-64-10 ReLU MLP on 8x8 digits (pixels in [0, 1]), trained "
                                  "under Gaussian noise sigma = 0.5 for randomized smoothing")

if __name__ == "__main__":
    main(__file__, ARCH, CONFIG)
