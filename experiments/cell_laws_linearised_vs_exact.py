"""Linearised vs exact nonlinear tiles on the default CNN, for every cell law.

Each matmul layer of the shipped digits CNN is programmed on one chip (2.5-ohm wires,
10-ohm drivers and sense resistors, v_read = 0.2 V, no ADC or DAC, no device errors) and
fed the same inputs (the layer's digital inputs for the first test images); the relative
error ``||Y_linearised - Y_exact|| / ||Y_exact||`` of its outputs is printed per law.
``Y_exact`` solves every read with Newton (``nonlinear_mode = "exact"``).

Run: ``python experiments/cell_laws_linearised_vs_exact.py [images]`` (default 4 images;
a few seconds per law).  Numbers quoted in docs/evaluator.md ("Cell laws").
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from xbar.network import load_dataset, load_model
from xbar.network.config import AnalogConfig
from xbar.network.evaluate import plan_network, program_chip
from xbar.network.tiles import TransferCache

TABLE = str(Path(__file__).resolve().parents[1] / "examples" / "iv_table.csv")
LAWS = {
    "sinh k=4/V": {"device": "sinh", "device_k": 4.0},
    "tabulated (examples/iv_table.csv)": {"device": "tabulated", "device_table": TABLE},
    "power_law alpha=3 v_ref=0.3V": {
        "device": "power_law",
        "device_alpha": 3.0,
        "device_v_ref": 0.3,
    },
    "exponential v0=0.3V": {"device": "exponential", "device_v0": 0.3},
}


def layer_outputs(model, cfg: AnalogConfig, inputs: dict, x_cal: np.ndarray) -> dict:
    """Each layer's analog outputs for its given inputs on chip 0 of ``cfg``."""
    folded, plans = plan_network(model, cfg)
    net = program_chip(plans, folded, cfg, 0, TransferCache())
    net.calibrate(folded, x_cal, x_cal.shape[0])
    return {name: net.layers[name].mvm(X, None, track=False) for name, X in inputs.items()}


def main(images: int = 4) -> None:
    model, data = load_model("default"), load_dataset("digits")
    inputs: dict[str, np.ndarray] = {}

    def record(layer, X):
        inputs[layer.name] = X
        return X @ layer.W2d

    model.fold_batchnorm().forward(data.x_test[:images], mvm=record)
    for name, law in LAWS.items():
        base = AnalogConfig(r_row=2.5, r_col=2.5, r_driver=10.0, r_sense=10.0, **law)
        lin = layer_outputs(model, base, inputs, data.x_train[:32])
        exact = layer_outputs(
            model, base.replace(nonlinear_mode="exact"), inputs, data.x_train[:32]
        )
        errs = [
            f"{n} {np.linalg.norm(lin[n] - exact[n]) / np.linalg.norm(exact[n]):.2e}" for n in exact
        ]
        print(f"{name:36s} " + "  ".join(errs))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)
