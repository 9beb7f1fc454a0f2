"""The CLI progress bar covers setup and inference; its ETA never prints nan."""

from __future__ import annotations

import io

from xbar.cli._progress import ProgressBar
from xbar.network import AnalogConfig, evaluate, load_model


def test_eta_never_nan():
    bar = ProgressBar("x", stream=io.StringIO(), enabled=True)
    for done, total, elapsed in [(0, 10, 0.0), (1, 10, 0.0), (1, 10, 5.0), (10, 10, 3.0)]:
        text = bar._eta(done, total, elapsed)
        assert "nan" not in text and "inf" not in text


def test_bar_covers_programming_calibration_and_inference():
    stream = io.StringIO()
    seen = []

    class Recorder(ProgressBar):
        def __call__(self, done, total):
            seen.append((done, total))
            self._last = -1e9  # draw every call
            super().__call__(done, total)

    bar = Recorder("infer", stream=stream, enabled=True)
    cfg = AnalogConfig(adc_bits=6, r_row=1.0, repeats=2)
    evaluate(load_model("default"), cfg, limit=30, progress=bar)
    bar.finish()
    text = stream.getvalue()
    assert "nan" not in text
    for stage in ("program + transfer matrices", "calibrate (30 images)", "infer", "chip 2/2"):
        assert stage in text
    # 4 tiles + 1 calibration pass + 1 batch, per chip
    assert seen[-1] == (12, 12) and len(seen) == 12


def test_synthetic_data_explains_chance_accuracy(capsys):
    from xbar.cli import main

    assert main(["infer", "--dataset", "synthetic-8x8x1", "--limit", "3", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "random labels" in err and "chance" in err
