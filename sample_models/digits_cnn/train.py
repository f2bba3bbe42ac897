"""Train digits_cnn: a small two-convolution ReLU CNN on the built-in 8x8 digits (seconds)."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # for common.py
from common import Config, main  # noqa: E402

ARCH = {"input_shape": [1, 8, 8],
        "layers": [{"type": "conv2d", "in": 1, "out": 8, "kernel": 3, "stride": 1, "padding": 1},
                   {"type": "relu"},
                   {"type": "conv2d", "in": 8, "out": 16, "kernel": 3, "stride": 2, "padding": 1},
                   {"type": "relu"}, {"type": "flatten"},
                   {"type": "linear", "in": 256, "out": 64}, {"type": "relu"},
                   {"type": "linear", "in": 64, "out": 10}]}
CONFIG = Config(dataset="digits", epochs=40, lr=3e-3, batch_size=64, seed=0,
                adv_eps=0.03, adv_from_epoch=20,
                description="Conv(1->8,3,p1)-ReLU-Conv(8->16,3,s2,p1)-ReLU-Linear(256,64)-ReLU-"
                            "Linear(64,10) on 8x8 digits")

if __name__ == "__main__":
    main(__file__, ARCH, CONFIG)
