"""Train moons_relu_mlp: a 2-50-50-2 ReLU MLP on the built-in two-moons data (a few seconds)."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # for common.py
from common import Config, main  # noqa: E402

ARCH = {"input_shape": [2],
        "layers": [{"type": "linear", "in": 2, "out": 50}, {"type": "relu"},
                   {"type": "linear", "in": 50, "out": 50}, {"type": "relu"},
                   {"type": "linear", "in": 50, "out": 2}]}
CONFIG = Config(dataset="moons", epochs=100, lr=1e-2, batch_size=64, seed=0,
                adv_eps=0.05, adv_from_epoch=50,
                description="2-50-50-2 ReLU MLP on two moons, for the 2-D toy views")

if __name__ == "__main__":
    main(__file__, ARCH, CONFIG)
