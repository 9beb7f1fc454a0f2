"""Held-out robustness audit (audit5): one compact regression test per defect class found by
probing xbar the way outside users do (netlists written for ngspice, ONNX graphs from real
exporters, data sets and tables from disk, CLI error paths)."""

from __future__ import annotations

import numpy as np
import pytest

from xbar import read_netlist, solve_dc
from xbar.errors import NetlistError

LADDER = "title\nV1 a 0 1\nR1 a b 1k\nR2 b 0 1k\n.op\n.end\n"


# --------------------------------------------------------------------- netlists: .end
def test_cards_after_end_are_read_as_ngspice_does(tmp_path):
    """ngspice-39 comments ``.end`` out and reads on, so a card after it is in the circuit
    (ngspice gives b = 1/3 V here); xbar used to stop and answer 0.5 V."""
    c = read_netlist(LADDER + "R3 b 0 1k\n")
    assert "r3" in c.resistors.name
    assert solve_dc(c).voltage("b") == pytest.approx(1 / 3, rel=1e-12)
    assert any("after .end" in n and ":7:" in n for n in c.notes)
    inc = tmp_path / "part.inc"
    inc.write_text("* part\nR2 b 0 1k\n.end\nR3 b 0 1k\n")
    top = tmp_path / "top.cir"
    top.write_text("title\nV1 a 0 1\nR1 a b 1k\n.include part.inc\n.op\n.end\n")
    assert solve_dc(read_netlist(top)).voltage("b") == pytest.approx(1 / 3, rel=1e-12)


def test_only_comments_after_end_give_no_note():
    c = read_netlist(LADDER + "* trailing comment\n\n")
    assert not any("after .end" in n for n in c.notes)


def test_garbage_after_end_is_a_located_error():
    with pytest.raises(NetlistError) as exc:
        read_netlist(LADDER + "this is prose after the end\n")
    assert exc.value.location.line == 7


def _op_matches_ngspice(tmp_path, ngspice, text: str, nodes, **tol) -> None:
    """The operating point of netlist ``text`` at ``nodes`` equals ngspice's."""
    path = tmp_path / "case.cir"
    path.write_text(text)
    spice = ngspice(path)
    op = solve_dc(read_netlist(path))
    for node in nodes:
        assert op.voltage(node) == pytest.approx(
            float(np.atleast_1d(spice.voltages[node])[0]), **tol
        ), node


@pytest.mark.ngspice
def test_cards_after_end_match_ngspice(tmp_path, ngspice):
    _op_matches_ngspice(tmp_path, ngspice, LADDER + "R3 b 0 1k\n", ["b"], rel=1e-9)


# --------------------------------------------------------------------- ONNX: broken weights
def _onnx_mlp(W, b=None, bn_var=None):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], {"W": W}
    src = "x"
    if bn_var is not None:
        C = len(bn_var)
        inits.update(sc=np.ones(C), bi=np.zeros(C), mu=np.zeros(C), var=np.asarray(bn_var))
        nodes.append(
            helper.make_node(
                "BatchNormalization", ["x", "sc", "bi", "mu", "var"], ["n"], name="bn1"
            )
        )
        src = "n"
    if b is None:
        nodes.append(helper.make_node("MatMul", [src, "W"], ["y"], name="fc1"))
    else:
        inits["b"] = b
        nodes.append(helper.make_node("Gemm", [src, "W", "b"], ["y"], name="fc1"))
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", W.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", W.shape[1]])],
        initializer=[
            numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()
        ],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_onnx_non_finite_weights_name_layer_array_and_index(bad):
    """A NaN or infinite weight used to load fine and fail later as 'weight matrix
    contains NaN or infinite values' with no layer or file named."""
    from xbar.errors import ModelError
    from xbar.network import load_onnx

    W = np.ones((4, 3))
    W[2, 1] = bad
    # named since onnx7 at the node, with the initializer and the index in ONNX order
    with pytest.raises(ModelError, match=r"'fc1' \(op MatMul\): .*'W' .* holds .* index \(2, 1\)"):
        load_onnx(_onnx_mlp(W))
    b = np.zeros(3)
    b[0] = bad
    with pytest.raises(ModelError, match=r"'fc1' \(op Gemm\): .*'b' .* holds .* index \(0,\)"):
        load_onnx(_onnx_mlp(np.ones((4, 3)), b=b))


def test_onnx_batchnorm_negative_variance_is_named():
    from xbar.errors import ModelError
    from xbar.network import load_onnx

    with pytest.raises(ModelError, match=r"'bn1' \(BatchNorm\): running_var .* index \(1,\)"):
        load_onnx(_onnx_mlp(np.ones((4, 3)), bn_var=[1.0, -1.0, 1.0, 1.0]))
    load_onnx(_onnx_mlp(np.ones((4, 3)), bn_var=[1.0, 0.0, 1.0, 1.0]))  # 0 + eps > 0: legal


# --------------------------------------------------------------------- data sets
def test_model_with_too_few_classes_is_not_told_to_resize():
    """Same image shape, fewer logits than classes: the hint used to say 'resize or crop
    the images to 8,8' (the size they already had)."""
    from xbar.errors import ModelError
    from xbar.network import load_dataset, load_model
    from xbar.network.layers import Dense, Flatten
    from xbar.network.model import Model

    data = load_dataset("digits")
    model = Model([Flatten(), Dense(64, 5)], data.input_shape, 5, name="five")
    with pytest.raises(ModelError, match="has 5 output classes") as exc:
        data.check_model(model)
    assert "resize" not in str(exc.value)
    assert load_model("default").classes == data.classes


@pytest.mark.parametrize(
    ("pixels", "scale"),
    [
        (np.arange(64, dtype=np.int64).reshape(1, 8, 8, 1) * 4, 255.0),  # 8-bit saved as int64
        (np.arange(64, dtype=np.uint16).reshape(1, 8, 8, 1) * 1000, 65535.0),  # 16-bit
    ],
)
def test_npz_integer_images_are_scaled_like_uint8(tmp_path, pixels, scale):
    """Integer pixels other than uint8 used to pass unscaled (0..65535 into the network)."""
    from xbar.network.datasets import load_from_disk

    path = tmp_path / "d.npz"
    np.savez(path, x=np.repeat(pixels, 2, axis=0), y=np.array([0, 1]))
    got = load_from_disk(f"npz:{path}").x_test
    np.testing.assert_allclose(got[0], pixels[0] / scale)


@pytest.mark.parametrize(
    ("pixels", "match"),
    [
        (np.full((2, 4, 4, 1), 300, dtype=np.int64), r"int64 range over 300..300"),
        (np.full((2, 4, 4, 1), -1, dtype=np.int8), r"int8 range over -1..-1"),
        (np.where(np.eye(4)[None, :, :, None] > 0, np.nan, 0.5).repeat(2, 0), r"image 0 .*nan"),
    ],
)
def test_npz_ambiguous_or_non_finite_pixels_are_refused_by_name(tmp_path, pixels, match):
    from xbar.errors import ModelError
    from xbar.network.datasets import load_from_disk

    path = tmp_path / "d.npz"
    np.savez(path, x=pixels, y=np.array([0, 1]))
    with pytest.raises(ModelError, match=match):
        load_from_disk(f"npz:{path}")


def test_folder_sixteen_bit_images_and_junk_files(tmp_path):
    """16-bit PNGs were converted to 8 bits by Pillow, clipping every value above 255
    to white; a .DS_Store or Thumbs.db in a class folder stopped the whole read."""
    Image = pytest.importorskip("PIL.Image")
    from xbar.network.datasets import load_from_disk

    ramp = (np.arange(64).reshape(8, 8) * 1000).astype(np.uint16)
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        Image.fromarray(ramp).save(tmp_path / c / "img.png")
        (tmp_path / c / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(64))
        (tmp_path / c / "Thumbs.db").write_bytes(bytes(64))
    data = load_from_disk(f"folder:{tmp_path}")
    assert data.x_test.shape == (2, 8, 8, 1)
    np.testing.assert_allclose(data.x_test[0, :, :, 0], ramp / 65535.0)
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    from xbar.errors import ModelError

    with pytest.raises(ModelError, match="broken.png"):
        load_from_disk(f"folder:{tmp_path}")


def test_damaged_npz_leaves_no_open_file(tmp_path):
    """numpy's np.load(path) leaves its file handle open when the zip is damaged
    (a ResourceWarning when it is collected)."""
    import gc
    import warnings

    from xbar.errors import ModelError
    from xbar.network.arrays import read_npz

    good = tmp_path / "good.npz"
    np.savez(good, x=np.ones(1000))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(good.read_bytes()[:300])
    gc.collect()  # garbage of earlier tests must not warn inside the block
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(ModelError, match="not a valid .npz"):
            read_npz(bad)
        gc.collect()
    leaks = [w for w in seen if issubclass(w.category, ResourceWarning)]
    assert not [w for w in leaks if "bad.npz" in str(w.message)]


# --------------------------------------------------------------------- crossbar: round-off
@pytest.mark.parametrize("g", [1e15, 1e30])
def test_crossbar_beyond_double_precision_raises_instead_of_answering(g):
    """1e15 S cells on 1-ohm wires: the solve used to return outputs 25 % off (1e30 S:
    negative currents from positive inputs) flagged only as 'roundoff_limited'."""
    import xbar
    from xbar.errors import ValueRangeError

    V = np.array([[0.1, 0.2, 0.3, 0.4]])
    with pytest.raises(ValueRangeError, match=r"input 0: the round-off floor .* \(> 0.001\)"):
        xbar.Crossbar(np.full((4, 4), g), 1.0, 1.0).solve(V)
    ok = xbar.Crossbar(np.full((4, 4), 1e10), 1.0, 1.0).solve(V)  # floor 5e-6: an answer
    ref = xbar.Crossbar(np.full((4, 4), 1e6), 1.0, 1.0).solve(V)
    np.testing.assert_allclose(ok.output, ref.output, rtol=1e-5)


# --------------------------------------------------------------------- I-V tables
IV = np.array([[-0.2, -2e-5], [0.0, 0.0], [0.1, 1e-5], [0.2, 3e-5]])


@pytest.mark.parametrize(
    "text",
    [
        "# V\tI\n" + "".join(f"{v}\t{i}\n" for v, i in IV),  # tab-separated
        "".join(f"{v:.18e} {i:.18e}\n" for v, i in IV),  # numpy.savetxt's default
        "V;I\n" + "".join(f"{v};{i}\n".replace(".", ",") for v, i in IV),  # comma decimals
        "\ufeffv,i\r\n" + "".join(f"{v},{i}\r\n" for v, i in IV),  # BOM + CRLF
    ],
    ids=["tabs", "savetxt", "semicolon-decimal-comma", "bom-crlf"],
)
def test_iv_tables_in_common_layouts(tmp_path, text):
    """Tab- and space-separated tables (numpy.savetxt's default) and ';' tables with
    decimal commas used to read as 'no I-V data rows' (every line taken as a header)."""
    from xbar.crossbar import Tabulated

    path = tmp_path / "iv.csv"
    path.write_text(text, encoding="utf-8")
    t = Tabulated.from_csv(path)
    np.testing.assert_allclose(np.c_[t.v, t.i], IV, rtol=1e-12)


@pytest.mark.parametrize(
    ("text", "line"),
    [("v,i\n0,0\n0,1,1e-5\n", 3), ("v,i\nunits V,A\n0,0\n0.1,1e-5\n", 2)],
)
def test_iv_table_ambiguous_lines_are_named(tmp_path, text, line):
    from xbar.crossbar import Tabulated
    from xbar.errors import ConfigError

    path = tmp_path / "iv.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"iv.csv:{line}: expected two numbers"):
        Tabulated.from_csv(path)


# --------------------------------------------------------------------- netlists: .dc names
SUB_SWEEP = """dc of a source inside a subcircuit
.subckt s a
Vq a m 1
Rq m 0 1k
.ends
X1 n s
V2 n2 0 0
R1 n n2 1k
.dc v.x1.vq 0 1 0.5 V2 0 1 1
.end
"""


def test_dc_sweep_of_a_subcircuit_source_by_its_ngspice_name():
    """ngspice sweeps ``v.x1.vq``; xbar refused it (and has no other name for it)."""
    res = solve_dc(read_netlist(SUB_SWEEP))
    v = np.asarray(res.voltages["n"])
    # n = Vq * 1k / 2k + V2 / 2 at (Vq, V2) in {0, .5, 1} x {0, 1}, Vq fastest
    vq, v2 = np.meshgrid([0, 0.5, 1], [0, 1])
    np.testing.assert_allclose(v.reshape(-1), (vq / 2 + v2 / 2).reshape(-1), rtol=1e-12)


@pytest.mark.ngspice
def test_dc_sweep_of_a_subcircuit_source_matches_ngspice(tmp_path, ngspice):
    path = tmp_path / "sub_sweep.cir"
    path.write_text(SUB_SWEEP)
    spice = ngspice(path)
    ours = solve_dc(read_netlist(path))
    np.testing.assert_allclose(
        np.asarray(ours.voltages["n"]).reshape(-1),
        np.asarray(spice.voltages["n"]).reshape(-1),
        rtol=1e-9,
    )


# --------------------------------------------------------------------- netlists: behavioural
FORMS = """E and G with VALUE, VOL and CUR (ngspice turns them into B sources)
V1 a 0 1
R1 a 0 1k
E1 b 0 VALUE = { V(a)*3 + 0.5 }
R2 b 0 1k
E2 c b value={sqrt(V(a)+1)}
R3 c 0 1k
G1 0 d VALUE={2m*V(a,b)}
R4 d 0 1k
G2 d 0 cur={1m*I(V1)}
E3 e 0 vol='V(b)/2'
R5 e 0 1k
.op
.end
"""


def test_e_and_g_value_forms_are_behavioural_sources():
    """``E ... VALUE={expr}`` and ``G ... VALUE=`` / ``VOL=`` / ``CUR=`` were refused."""
    op = solve_dc(read_netlist(FORMS))
    b = 3 * 1 + 0.5
    assert op.voltage("b") == pytest.approx(b, rel=1e-12)
    assert op.voltage("c") == pytest.approx(b + np.sqrt(2), rel=1e-12)
    assert op.voltage("e") == pytest.approx(b / 2, rel=1e-12)
    i_v1 = op.current("v1")  # into V1's + terminal: -1 mA
    assert i_v1 == pytest.approx(-1e-3, rel=1e-12)
    # G1 drives 2m*(V(a)-V(b)) into d, G2 draws 1m*I(V1) out of d; R4 to ground
    assert op.voltage("d") == pytest.approx(1e3 * (2e-3 * (1 - b) - 1e-3 * i_v1), rel=1e-9)


@pytest.mark.parametrize(
    ("card", "match"),
    [
        ("E1 b 0 cur={V(a)}", "CUR= belongs to G sources"),
        ("G1 b 0 vol={V(a)}", "VOL= belongs to E sources"),
        ("E1 b 0 value=", "missing expression after VALUE="),
        ("E1 b 0 value {V(a)}", "expected VALUE=<expression>"),
        ("E1 b 0 value={V(zz}", r"\("),
    ],
)
def test_e_and_g_value_form_errors_are_located(card, match):
    with pytest.raises(NetlistError, match=match) as exc:
        read_netlist(f"t\nV1 a 0 1\nR1 a 0 1k\n{card}\nR2 b 0 1\n.op\n.end\n")
    assert exc.value.location.line == 4


@pytest.mark.ngspice
def test_e_and_g_value_forms_match_ngspice(tmp_path, ngspice):
    _op_matches_ngspice(tmp_path, ngspice, FORMS, "abcde", rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("expr", ["sqrt(V(a))", "V(a)*sqrt(V(a))", "sqrt(abs(V(a)))"])
def test_sqrt_of_a_control_that_starts_at_zero(expr):
    """Newton starts at 0 V, where sqrt's slope is infinite: xbar refused ('not finite at
    its starting point'); ngspice guards the division in the slope (1e-20) and solves."""
    op = solve_dc(read_netlist(f"t\nV1 a 0 2\nR1 a 0 1k\nB2 c 0 V={expr}\nR3 c 0 1k\n.op\n.end\n"))
    want = {"sqrt(V(a))": np.sqrt(2), "V(a)*sqrt(V(a))": 2 * np.sqrt(2)}.get(expr, np.sqrt(2))
    assert op.voltage("c") == pytest.approx(want, rel=1e-9)


# --------------------------------------------------------------------- ONNX: files
def test_onnx_empty_device_and_missing_external_data_files(tmp_path):
    """An empty file was 'no default-domain opset import', /dev/null 'does not exist',
    and a missing external-data file hinted to re-export the model."""
    onnx = pytest.importorskip("onnx")
    from xbar.errors import ModelError
    from xbar.network import load_onnx

    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match=r"is empty \(0 bytes\)"):
        load_onnx(empty)
    import os

    if os.path.exists("/dev/null"):
        with pytest.raises(ModelError, match="is a device, not a file"):
            load_onnx("/dev/null")
    model = _onnx_mlp(np.ones((4, 3)))
    path = tmp_path / "ext.onnx"
    onnx.save_model(model, path, save_as_external_data=True, location="ext.data", size_threshold=0)
    (tmp_path / "ext.data").unlink()
    with pytest.raises(ModelError, match="ext.onnx") as exc:
        load_onnx(path)
    assert "external data" in exc.value.hint
    with pytest.raises(ModelError, match="holds no graph"):
        load_onnx(onnx.ModelProto())


# --------------------------------------------------------------------- netlists: encodings
def test_included_file_with_byte_order_mark_and_crlf(tmp_path):
    """A BOM at the start of an included file was read as an element '\\ufeff'."""
    sub = tmp_path / "sub dir"
    (sub / "deep").mkdir(parents=True)
    (sub / "mid.inc").write_bytes(
        b"\xef\xbb\xbf* BOM and CRLF\r\n.include deep/inner.inc\r\nR2 b 0 1k\r\n"
    )
    (sub / "deep" / "inner.inc").write_text("* deep\n.param rr=3k\nR3 b 0 {rr}\n")
    top = tmp_path / "top.cir"
    top.write_text('t\n.include "sub dir/mid.inc"\nV1 a 0 1\nR1 a b 1k\n.op\n.end\n')
    assert solve_dc(read_netlist(top)).voltage("b") == pytest.approx(750 / 1750, rel=1e-12)


def test_utf16_netlist_is_named_as_such(tmp_path):
    """Windows 'Unicode' (UTF-16) netlists were called binary files (NUL byte)."""
    path = tmp_path / "u16.cir"
    path.write_bytes("t\nV1 a 0 1\nR1 a 0 1k\n.op\n.end\n".encode("utf-16"))
    with pytest.raises(NetlistError, match="is UTF-16 text") as exc:
        read_netlist(path)
    assert "UTF-8" in exc.value.hint


def test_crossbar_inputs_beyond_double_precision_are_named():
    """1e300 V inputs: 'CG did not converge ... residual nan > tol (above its round-off
    floor nan) after 20000 iterations'; now a range error saying what overflowed."""
    import xbar
    from xbar.errors import ValueRangeError

    xb = xbar.Crossbar(np.full((4, 3), 1e-5), 1.0, 1.0)
    with pytest.raises(ValueRangeError, match="CG overflowed for input 0"):
        xb.solve(np.full(4, 1e300))
    big = xb.solve(np.full(4, 1e100)).output  # large but representable: linear in V
    np.testing.assert_allclose(big, 1e100 * xb.solve(np.ones(4)).output, rtol=1e-9)


# --------------------------------------------------------------------- netlists: size
def _nested(levels: int, fan: int = 10) -> str:
    lines = ["nested instances", ".subckt s0 a b\nR1 a b 1k\n.ends"]
    for k in range(1, levels + 1):
        lines += [f".subckt s{k} a b", *(f"X{j} a b s{k - 1}" for j in range(fan)), ".ends"]
    return "\n".join([*lines, "V1 a 0 1", f"X1 a 0 s{levels}", ".op", ".end", ""])


def test_exponential_subcircuit_expansion_is_refused_before_it_fills_memory():
    """Ten levels of ten instances (126 lines, 1e10 resistors) ran until the machine ran
    out of memory; now a located ResourceError before anything is flattened."""
    from xbar.errors import ResourceError

    text = _nested(10)
    with pytest.raises(ResourceError, match=r"instance x1 of s10 .* about 1e\+10 elements") as e:
        read_netlist(text)
    assert e.value.location.line == text.splitlines().index("X1 a 0 s10") + 1
    op = solve_dc(read_netlist(_nested(3)))  # 1000 parallel 1k resistors: 1 ohm
    assert op.current("v1") == pytest.approx(-1.0, rel=1e-9)


# --------------------------------------------------------------------- netlists: '+' lines
def test_long_continued_card_keeps_values_and_locations():
    """A PWL of 20,000 '+' lines (joined line by line: quadratic, 9 s at 200,000 lines);
    its value at time 0 and the location of an error on its last line stay right."""
    pts = "".join(f"+ {k}n {0.25 + (k % 3) * 0.1:.2f}\n" for k in range(20000))
    c = read_netlist(f"t\nV1 a 0 PWL(\n{pts}+ )\nR1 a 0 1k\n.op\n.end\n")
    assert c.vsources.value[0] == pytest.approx(0.25)
    with pytest.raises(NetlistError) as exc:
        read_netlist(f"t\nV1 a 0 PWL(\n{pts}+ 1n abc )\nR1 a 0 1k\n.op\n.end\n")
    assert (exc.value.location.line, exc.value.location.column) == (20003, 6)


def test_plus_lines_inside_skipped_blocks():
    """'+' lines in a .control block or an unused .lib section were 'continuation line
    with no card to continue' errors; ngspice runs the first."""
    text = (
        "t\nV1 a 0 1\nR1 a b 1k\nR2 b 0 1k\n.control\nlet x = 1\n+ + 2\n.endc\n"
        ".lib unused\n.model dm D(IS=1e-14\n+ N=1.2)\n.endl unused\n.op\n.end\n"
    )
    assert solve_dc(read_netlist(text)).voltage("b") == pytest.approx(0.5)


# --------------------------------------------------------------------- CLI: synthetic data
def test_cli_synthetic_data_follows_the_models_class_count(tmp_path, capsys):
    """Timing a 5-class ONNX model on synthetic-HxWxC was refused: the random labels had
    10 classes.  Now the labels are drawn over the model's classes."""
    onnx = pytest.importorskip("onnx")
    from xbar.cli import main

    path = tmp_path / "five.onnx"
    onnx.save(_onnx_mlp(np.ones((12, 5))), str(path))
    argv = ["infer", "--model", str(path), "--dataset", "synthetic-2x2x3", "--limit", "4"]
    assert main([*argv, "--ideal", "--no-progress"]) == 0
    out = capsys.readouterr()
    assert "synthetic-2x2x3" in out.out and "about 1/5" in out.err


# --------------------------------------------------------------------- netlists: POLY
POLY = """SPICE polynomial sources (coefficients in SPICE2's order)
Va a 0 2
Ra a x 1k
Vx x 0 0
Vb b 0 1
Rb b y 2k
Vy y 0 0
E2 e2 0 POLY(2) (a,0) (b,0) 1 10 100 1000 10000 100000 1e6
R2 e2 0 1k
F1 0 f POLY(2) Vx Vy 1m 2 3 100 200 300
Rf f 0 1k
H1 h 0 POLY(1) Vx 0.5 1k
Rh h 0 1k
G1 0 g POLY(1) a 0 1m 2m
Rg g 0 1k
E1 e 0 POLY(1) a 0 3
Re e 0 1k
.op
.end
"""


def test_poly_sources_follow_spice2_coefficient_order():
    """E/F/G/H POLY(n) were refused; vendor macro-models are written with them."""
    op = solve_dc(read_netlist(POLY))
    a, b, ix, iy = 2.0, 1.0, 2e-3, 0.5e-3
    # 1 + 10a + 100b + 1000a^2 + 10000ab + 100000b^2 + 1e6 a^3
    want = 1 + 10 * a + 100 * b + 1e3 * a * a + 1e4 * a * b + 1e5 * b * b + 1e6 * a**3
    assert op.voltage("e2") == pytest.approx(want, rel=1e-12)
    f = 1e-3 + 2 * ix + 3 * iy + 100 * ix * ix + 200 * ix * iy + 300 * iy * iy
    assert op.voltage("f") == pytest.approx(1e3 * f, rel=1e-12)
    assert op.voltage("h") == pytest.approx(0.5 + 1e3 * ix, rel=1e-12)
    assert op.voltage("g") == pytest.approx(1e3 * (1e-3 + 2e-3 * a), rel=1e-12)
    assert op.voltage("e") == pytest.approx(3.0)  # one coefficient: p0, as ngspice-39


@pytest.mark.ngspice
def test_poly_sources_match_ngspice(tmp_path, ngspice):
    _op_matches_ngspice(tmp_path, ngspice, POLY, ["e2", "f", "h", "g", "e"], rel=1e-9)


def test_poly_with_thousands_of_coefficients_is_refused_not_hung():
    """5000 coefficients of POLY(1) are terms of degree up to 4999: 12.5 million factors
    (the first version ran for minutes); a located error above MAX_POLY_FACTORS."""
    from xbar.spice.netlist.elements import MAX_POLY_FACTORS

    coefs = " ".join(["1e-6"] * 5000)
    with pytest.raises(NetlistError, match=f"more than {MAX_POLY_FACTORS} factors") as exc:
        read_netlist(f"t\nVa a 0 0.5\nRa a 0 1k\nE1 o 0 POLY(1) a 0 {coefs}\n.op\n.end\n")
    assert (exc.value.location.line, exc.value.location.column) == (4, 20)
    ok = " ".join(["1e-6"] * 100)  # degree 99: still read
    op = solve_dc(read_netlist(f"t\nVa a 0 0.5\nRa a 0 1k\nE1 o 0 POLY(1) a 0 {ok}\n.op\n.end\n"))
    assert op.voltage("o") == pytest.approx(1e-6 * (1 - 0.5**100) / 0.5, rel=1e-12)


def test_cli_validate_list_json_is_json(capsys):
    """``xbar validate --list --json`` printed the text table."""
    import json

    from xbar.cli import main

    assert main(["validate", "--list", "--json", "--case", "ladder"]) == 0
    rows = json.loads(capsys.readouterr().out)["cases"]
    assert rows and all({"name", "kind", "reference"} <= set(r) for r in rows)
    assert all("ladder" in r["name"] for r in rows)


def test_cli_solve_json_carries_the_notes(tmp_path, capsys):
    """A program reading ``xbar solve --json`` did not see what the reader skipped or
    defaulted (the notes went to standard error only)."""
    import json

    from xbar.cli import main

    path = tmp_path / "n.cir"
    path.write_text(LADDER + "R3 b 0 1k\n")
    assert main(["solve", str(path), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["voltages"]["b"] == pytest.approx(1 / 3)
    assert any("after .end" in n for n in obj["notes"])
