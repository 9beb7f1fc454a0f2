"""A linear, noiseless layer reads through one matrix: the same outputs as tile by tile."""

from __future__ import annotations

import numpy as np
import pytest

from xbar.network import AnalogConfig, load_model
from xbar.network.evaluate import plan_network, program_chip
from xbar.network.tiles import TransferCache

CASES = [
    {},
    {"r_row": 1.0, "r_col": 2.0, "r_driver": 3.0, "r_sense": 0.5},
    {"mapping": "offset"},
    {"mapping": "offset", "offset_subtraction": "reference_column", "r_row": 1.0, "r_col": 1.0},
    {"weight_bits": 8, "weight_slices": 2, "r_row": 1.0, "r_col": 1.0, "array_rows": 32},
    {
        "programming_error": "state_proportional",
        "programming_sigma": 0.1,
        "r_row": 2.0,
        "r_col": 2.0,
    },
]


@pytest.mark.parametrize("kw", CASES)
def test_layer_matrix_equals_tile_reads(kw):
    cfg = AnalogConfig(**kw)
    model = load_model("default")
    folded, plans = plan_network(model, cfg)
    net = program_chip(plans, folded, cfg, 0, TransferCache())
    rng = np.random.default_rng(0)
    for al in net.layers.values():
        X = rng.normal(size=(30, al.plan.mapping.n_in))  # signed: two passes
        al.input_scale = float(np.abs(X).max())
        assert al.linear_reads()
        Y1 = al.mvm(X, None)
        counts = (al.mvm_batches, al.conversions)
        al.linear_reads = lambda: False
        Y2 = al.mvm(X, None)
        assert np.abs(Y1 - Y2).max() <= 1e-12 * np.abs(Y2).max()
        # the same tile reads and conversions are counted
        assert (al.mvm_batches, al.conversions) == tuple(2 * c for c in counts)


@pytest.mark.parametrize(
    "kw",
    [{"adc_bits": 8}, {"read_noise_sigma": 0.01}, {"dac_bits": 6}, {"device": "sinh"}],
)
def test_nonlinear_or_noisy_layers_read_tile_by_tile(kw):
    cfg = AnalogConfig(**kw)
    folded, plans = plan_network(load_model("default"), cfg)
    net = program_chip(plans, folded, cfg, 0, TransferCache())
    for al in net.layers.values():
        al.input_scale = 1.0
        assert not al.linear_reads()
