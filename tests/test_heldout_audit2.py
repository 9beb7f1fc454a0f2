"""Held-out robustness audit, round 2 (audit6): one compact regression test per defect class
found by probing xbar the way outside users and their tools do (ngspice netlists, exporter
graphs, data sets as distributed, faults on busy shared machines), and small independent
re-implementations of the papers' definitions compared with xbar."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from xbar.errors import ConfigError

# ------------------------------------------------------------ outputs: devices, full disks


def test_outputs_never_replace_a_device_file(capsys):
    """``xbar crossbar --save /dev/null`` used to write a temporary file and rename it onto
    /dev/null (as root: the device was replaced by an .npz); ``--plot`` the same."""
    from xbar.cli import main

    for flag in ("--save", "--plot"):
        assert main(["crossbar", "--rows", "4", "--cols", "4", flag, os.devnull]) == 2
        assert "it is a device, not a file" in capsys.readouterr().err
        assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_failed_figure_write_leaves_no_partial_image(tmp_path, monkeypatch):
    """A full disk during ``savefig`` left a truncated PNG (and destroyed the older one)."""
    from matplotlib.figure import Figure

    from xbar.plot import save_figure

    target = tmp_path / "fig.png"
    target.write_bytes(b"older figure")

    def full_disk(self, fname, **kw):
        with open(fname, "wb") as fh:
            fh.write(b"\x89PNG partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full_disk)
    with pytest.raises(ConfigError, match=r"fig\.png: No space left on device"):
        save_figure(Figure(), target)
    assert target.read_bytes() == b"older figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_sweep_csv_write_errors_name_the_file(tmp_path):
    """A full disk while writing the sweep CSV said only 'No space left on device'."""
    from xbar.network.sweep.store import SweepStore

    store = SweepStore.open(tmp_path / "s.csv")
    store._fh.close()
    store._fh = open("/dev/full", "w")  # noqa: SIM115 - every flush fails as on a full disk
    store._writer = __import__("csv").writer(store._fh)
    with pytest.raises(OSError) as info:
        store._fh.write("x" * 10)
        with store._naming_errors():
            store._fh.flush()
    assert info.value.filename == str(tmp_path / "s.csv")
    with pytest.raises(OSError) as info:  # close() retries the buffer: named too
        store.close()
    assert info.value.filename == str(tmp_path / "s.csv")
