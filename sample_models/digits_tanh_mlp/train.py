"""Train digits_tanh_mlp: a 64-128-64-10 tanh MLP on the built-in 8x8 digits (seconds)."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # for common.py
from common import Config, main  # noqa: E402

ARCH = {"input_shape": [1, 8, 8],
        "layers": [{"type": "flatten"},
                   {"type": "linear", "in": 64, "out": 128}, {"type": "tanh"},
                   {"type": "linear", "in": 128, "out": 64}, {"type": "tanh"},
                   {"type": "linear", "in": 64, "out": 10}]}
CONFIG = Config(dataset="digits", epochs=60, lr=3e-3, batch_size=64, seed=0,
                adv_eps=0.03, adv_from_epoch=30,
                description="64-128-64-10 tanh MLP on 8x8 digits (inputs flattened)")

if __name__ == "__main__":
    main(__file__, ARCH, CONFIG)
