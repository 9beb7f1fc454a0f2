"""The README's and docs' examples run as shown and are the real output (issue 15 item 7)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xbar.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_error_example_is_the_real_message(tmp_path, capsys, monkeypatch):
    text = README.read_text(encoding="utf-8")
    block = re.search(
        r"```text\n\$ cat bad\.cir\n(.*?)\$ xbar solve bad\.cir\n(.*?)```", text, re.S
    )
    assert block, "README lost its error example"
    netlist, shown = block.groups()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.cir").write_text(netlist)
    assert main(["solve", "bad.cir"]) == 2
    assert capsys.readouterr().err == shown


# --- the other statements of README.md and docs/*.md that a user can check cheaply ---

ROOT = README.parent
DOCS = ROOT / "docs"


def _block(path: Path, lang: str, marker: str) -> str:
    """The fenced ``lang`` block of ``path`` that contains ``marker``."""
    text = path.read_text(encoding="utf-8")
    blocks = [b for b in re.findall(rf"```{lang}\n(.*?)```", text, re.S) if marker in b]
    assert len(blocks) == 1, f"{path.name}: expected one {lang} block with {marker!r}"
    return blocks[0]


def _run(code: str, tmp_path, monkeypatch) -> dict:
    """Run a snippet in a scratch directory that sees the repository's data folders."""
    for name in ("netlists", "examples"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "<doc snippet>", "exec"), namespace)
    return namespace


def test_readme_netlist_snippet_runs(tmp_path, monkeypatch):
    ns = _run(_block(README, "python", "xbar.read_netlist("), tmp_path, monkeypatch)
    op = ns["op"]
    assert op.iterations >= 1 and op.strategy
    assert 0 < op.voltage("c3_0") < 1 and op.current("v_sense0") > 0


def test_readme_crossbar_snippet_runs(tmp_path, monkeypatch):
    import numpy as np

    code = _block(README, "python", "xbar.Crossbar(G")
    # the same statements on a smaller array (the README's 256 x 256 takes seconds)
    code = code.replace("size=(256, 256)", "size=(24, 24)").replace(
        "size=(64, 256)", "size=(3, 24)"
    )
    ns = _run(code, tmp_path, monkeypatch)
    sol, W, V = ns["sol"], ns["W"], ns["V"]
    assert sol.output.shape == (3, 24) and W.shape == (24, 24)
    assert np.max(sol.residual) <= 1e-10
    np.testing.assert_allclose(V @ W, sol.output, rtol=1e-8, atol=1e-12 * abs(sol.output).max())
    assert (tmp_path / "array.cir").stat().st_size > 0


def test_readme_evaluate_snippet_runs(tmp_path, monkeypatch):
    ns = _run(_block(README, "python", "evaluate(model, config"), tmp_path, monkeypatch)
    result = ns["result"]
    assert result.n_images == 200 and len(result.accuracies) == 2
    assert [s.name for s in result.layer_stats] == ["conv1", "conv2", "dense"]


def test_energy_doc_snippet_runs(tmp_path, monkeypatch):
    import numpy as np

    ns = _run(_block(DOCS / "energy.md", "python", "power_forms()"), tmp_path, monkeypatch)
    p, forms, V = ns["p"], ns["forms"], ns["V"]
    assert p.balance_error < 1e-9
    np.testing.assert_allclose(forms.power(V).cells, p.cells, rtol=1e-8)


def test_input_switched_doc_snippet_runs(tmp_path, monkeypatch):
    import numpy as np

    ns = _run(_block(DOCS / "input_switched.md", "python", "input_switched"), tmp_path, monkeypatch)
    xb, bits = ns["xb"], ns["bits"]
    out = xb.solve(bits).output
    assert out.shape == (32, 64)
    np.testing.assert_allclose(0.2 * xb.pattern_conductances(bits), out, rtol=1e-12)
    assert (tmp_path / "isw.cir").stat().st_size > 0


def test_readme_notes_example_is_the_real_output(tmp_path, capsys, monkeypatch):
    shown = _block(README, "text", "$ xbar solve tran.cir").split("\n", 1)[1]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tran.cir").write_text(
        "transient example\nv1 a 0 SIN(0 1 1k)\nr1 a b 1k\nr2 b 0 1k\n.tran 1u 1m\n.end\n"
    )
    assert main(["solve", "tran.cir"]) == 0
    assert capsys.readouterr().err == shown


def test_onnx_doc_error_example_is_the_real_message():
    pytest.importorskip("onnx")
    from xbar.errors import ModelError
    from xbar.network import load_onnx

    shown = _block(DOCS / "onnx.md", "text", "layers are not supported").splitlines()
    path = ROOT / "tests" / "data" / "onnx" / "unsupported" / "gru_torchscript_op13.onnx"
    with pytest.raises(ModelError) as info:
        load_onnx(path)
    lines = str(info.value).replace(str(path), "net.onnx").splitlines()
    assert lines[0] == shown[0]
    assert lines[1].startswith(shown[1].removesuffix(", ..."))


def _validate_table(text: str) -> tuple[list[str], str]:
    block = re.search(r"```text\n\$ xbar validate\n(.*?)```", text, re.S).group(1)
    rows = [line.split()[0] for line in block.splitlines()[2:] if line.strip()]
    return rows[:-1], block.strip().splitlines()[-1]


def test_validate_tables_in_the_docs_name_every_case():
    from xbar.validation.catalog import all_cases

    names = [case.name for case in all_cases()]
    for path in (README, DOCS / "validation.md"):
        text = path.read_text(encoding="utf-8")
        rows, summary = _validate_table(text)
        assert rows == names, f"{path.name}: the xbar validate table lists other cases"
        assert summary.startswith(f"{len(names)} passed, 0 failed ({len(names)} cases")
    assert f"`xbar validate` runs {len(names)} named cases" in README.read_text(encoding="utf-8")


def test_validate_json_fields_named_in_the_docs(capsys):
    import json

    assert main(["validate", "--case", "passivity", "--json"]) == 0
    case = json.loads(capsys.readouterr().out)["cases"][0]
    for path in (README, DOCS / "validation.md"):
        shown = re.search(
            r'xbar validate --json +# \{"cases": \[\{(.*?), \.\.\.\}', path.read_text()
        )
        for field in re.findall(r'"(\w+)"', shown.group(1)):
            assert field in case, f"{path.name} names --json field {field!r}"


def test_links_in_the_docs_point_to_files():
    for path in [README, *sorted(DOCS.glob("*.md"))]:
        for link in re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8")):
            if link.startswith(("http://", "https://")):
                continue
            target = (path.parent / link.split("#")[0]).resolve()
            assert target.exists(), f"{path.name}: link {link} points to no file"


def test_readme_energy_sentence_is_the_default_run():
    # "For the default network the 8-bit ADC is 84 % of 4.7 nJ per image; a 6-bit
    # ADC keeps the accuracy at 2.7x less energy." (the metered chip is chip 0)
    from xbar.network import AnalogConfig, evaluate, load_model

    text = README.read_text(encoding="utf-8")
    m = re.search(
        r"the 8-bit\s+ADC is (\d+) % of ([\d.]+) nJ per image; a 6-bit\s+ADC keeps the "
        r"accuracy at ([\d.]+)x less energy",
        text,
    )
    assert m, "README lost its energy sentence"
    share, total, ratio = int(m.group(1)), float(m.group(2)), float(m.group(3))
    model = load_model("default")
    config = AnalogConfig.from_toml(ROOT / "examples" / "rram_128.toml").replace(repeats=2)
    at8 = evaluate(model, config)
    at6 = evaluate(model, config.replace(adc_bits=6))
    assert round(100 * at8.energy["adc"] / at8.energy["total"]) == share
    assert round(at8.energy["total"] * 1e9, 2) == total
    assert round(at8.energy["total"] / at6.energy["total"], 1) == ratio
    assert at6.accuracy >= at8.accuracy - 0.005


# --- per-layer settings, measured cells, output selection (landed 2026-11-26) ---

EXAMPLES = ROOT / "examples"


def _default_layer_names() -> list[str]:
    from xbar.network import load_model

    return [la.name for la in load_model("default").matmul_layers()]


@pytest.mark.parametrize("name", ["per_layer.toml", "measured_cells.toml", "rram_128.toml"])
def test_example_configs_load_and_their_sections_match_the_default_model(name):
    from xbar.network import AnalogConfig
    from xbar.network.cells import cell_device

    config = AnalogConfig.from_toml(EXAMPLES / name)
    settings = config.layer_settings(_default_layer_names())  # an unmatched section raises
    for setting in settings:
        if not setting.digital:
            cell_device(setting.config)  # the cell law (and its table) loads
    if config.device == "tabulated":
        assert (EXAMPLES / "iv_table.csv").samefile(config.device_table)


def test_layer_flags_in_the_docs_and_help_name_layers_of_the_default_model(capsys):
    from xbar.network import AnalogConfig
    from xbar.network.layerwise import parse_layer_option

    assert main(["infer", "--help"]) == 0
    texts = [capsys.readouterr().out, README.read_text(encoding="utf-8")]
    texts += [(EXAMPLES / "per_layer.toml").read_text(encoding="utf-8")]
    options = [o for t in texts for o in re.findall(r"--layer '([^']+)'", t)]
    options = [o for o in options if not o.startswith("PATTERN")]
    assert len(options) >= 3
    for option in options:
        pattern, fields = parse_layer_option(option)
        layers = {pattern: {"digital": True} if not fields else fields}
        AnalogConfig.from_dict({"layers": layers}).layer_settings(_default_layer_names())


def test_readme_per_layer_example_is_the_real_output(capsys, monkeypatch):
    shown = _block(README, "text", "$ xbar infer --config examples/per_layer.toml")
    monkeypatch.chdir(ROOT)
    assert main(["infer", "--config", "examples/per_layer.toml"]) == 0
    out = capsys.readouterr().out.splitlines()
    for line in shown.splitlines()[2:]:  # the command and '...'
        if line.startswith("layer ") or line.split()[0] not in ("conv1", "conv2", "dense"):
            assert line in out, f"README shows {line!r}; xbar infer printed:\n" + "\n".join(out)
            continue
        got = next(g for g in out if g.split()[:1] == line.split()[:1])
        # name, n_in, n_out, tiles exactly; rel.err and ranges to their last printed digit
        assert got.split()[:4] == line.split()[:4]
        for a, b in zip(got.split()[4:], line.split()[4:], strict=True):
            assert a == b or abs(float(a) - float(b)) <= 2e-4 * max(1.0, abs(float(b))), got


def test_readme_print_card_example_is_the_real_output(tmp_path, capsys, monkeypatch):
    block = _block(README, "text", "$ cat divider.cir")
    netlist, rest = block.split("$ cat divider.cir\n", 1)[1].split("$ xbar solve ", 1)
    command, shown = rest.split("\n", 1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "divider.cir").write_text(netlist)
    assert main(["solve", *command.split()]) == 0
    assert capsys.readouterr().out == shown


def test_readme_solve_commands_run(capsys, monkeypatch):
    import shlex

    monkeypatch.chdir(ROOT)
    block = _block(README, "bash", "xbar solve netlists/")
    for line in block.splitlines():
        args = shlex.split(line.split("#")[0])
        assert args[:2] == ["xbar", "solve"]
        assert main(args[1:]) == 0, line
        out = capsys.readouterr().out
        if "--nodes" in args:  # one column per item, v(a,b) kept whole
            items = re.split(r",(?![^()]*\))", args[args.index("--nodes") + 1])
            labels = [i.replace(" ", "") if "(" in i else f"v({i})" for i in items]
            header = out.splitlines()[3].split()
            assert header[-len(labels) :] == labels, line


def test_evaluator_doc_per_layer_toml_loads_on_the_default_model():
    import tomllib

    from xbar.network import AnalogConfig

    data = tomllib.loads(_block(DOCS / "evaluator.md", "toml", "[layers."))
    settings = AnalogConfig.from_dict(data).layer_settings(_default_layer_names())
    assert [s.digital for s in settings] == [False, False, True]
    assert settings[0].changes == {"adc_bits": 10, "r_row": 1.0}


def test_measured_cells_example_compares_against_other_laws():
    # `xbar infer --config examples/measured_cells.toml --device linear` (or a sweep over
    # device) drops the file's table, as a layer section changing the law does
    from xbar.errors import ConfigError
    from xbar.network import AnalogConfig

    path = EXAMPLES / "measured_cells.toml"
    assert AnalogConfig.from_toml(path, device="linear").device_table == ""
    config = AnalogConfig.from_toml(path)
    assert config.replace(device="sinh").device_table == ""
    assert config.replace(device="tabulated").device_table == config.device_table
    with pytest.raises(ConfigError, match="device_table"):  # a table without its law
        AnalogConfig.from_toml(path, device="linear", device_table=config.device_table)


def test_evaluator_doc_names_the_whole_network_fields():
    from xbar.network.layerwise import GLOBAL_FIELDS

    text = " ".join((DOCS / "evaluator.md").read_text(encoding="utf-8").split())
    shown = re.search(r"Every field but the whole-network ones: (.*?)\. ", text).group(1)
    assert set(re.findall(r"`(\w+)`", shown)) == set(GLOBAL_FIELDS) - {"layers"}


def test_readme_print_card_json_outputs(tmp_path, capsys, monkeypatch):
    import json

    block = _block(README, "text", "$ cat divider.cir")
    netlist = block.split("$ cat divider.cir\n", 1)[1].split("$ xbar solve ", 1)[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "divider.cir").write_text(netlist)
    assert main(["solve", "divider.cir", "--json"]) == 0
    outputs = json.loads(capsys.readouterr().out)["outputs"]
    assert outputs == {"v(out)": [0.0, 0.75, 1.5], "i(v1)": [0.0, -0.00025, -0.0005]}


# --- lists in the docs that must match the code both ways (landed 2026-11-26) ---


def test_onnx_doc_op_table_lists_exactly_the_imported_ops():
    pytest.importorskip("onnx")
    from xbar.network.onnx_import import SUPPORTED_OPS

    text = (DOCS / "onnx.md").read_text(encoding="utf-8")
    table = text[text.index("## What is imported") : text.index("Initializers stored as")]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    listed = set(re.findall(r"`([A-Z][A-Za-z0-9]*)`", " ".join(rows)))
    listed |= set(re.findall(r"`Shape -> (\w+)", " ".join(rows)))  # constant subgraphs
    listed |= {"Shape"}
    assert listed - set(SUPPORTED_OPS) == set(), "docs/onnx.md lists ops the importer refuses"
    assert set(SUPPORTED_OPS) - listed == set(), "docs/onnx.md misses imported ops"


def test_data_set_formats_in_readme_docs_and_help_are_the_readers(capsys):
    from xbar.network.datasets import FORMATS

    readme = " ".join(README.read_text(encoding="utf-8").split())
    sentence = readme[readme.index("`PATH` is CIFAR-10's binary") :]
    sentence = sentence[: sentence.index("work the same way")]
    named = set(re.findall(r"`([a-z0-9-]+):`", sentence)) | {"cifar10"}
    assert named == set(FORMATS), "README's list of --dataset formats"
    text = (DOCS / "onnx.md").read_text(encoding="utf-8")
    table = text[text.index("| FORMAT |") : text.index("The python distributions")]
    rows = [line.split("|")[1] for line in table.splitlines()[2:] if line.startswith("|")]
    assert set(re.findall(r"`([a-z0-9-]+)`", " ".join(rows))) == set(FORMATS)
    assert main(["infer", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert set(re.findall(r"([a-z0-9-]+):PATH", shown)) == set(FORMATS)


def test_readme_crossbar_device_names_are_the_constructor_s():
    import numpy as np

    import xbar
    from xbar.crossbar.array import DEVICE_NAMES

    text = " ".join(README.read_text(encoding="utf-8").split())
    m = re.search(r'`device="sinh"` is `xbar\.Sinh\(([\d.]+)\)`; (.*?)\), as `AnalogConfig`', text)
    assert m, "README lost its device-name sentence"
    assert {"sinh", *re.findall(r'`"(\w+)"`', m.group(2))} == set(DEVICE_NAMES)
    G = np.full((2, 3), 1e-5)
    xb = xbar.Crossbar(G, 1.0, 1.0, device="sinh")
    assert type(xb.device) is xbar.Sinh and np.all(xb.device.k == float(m.group(1)))
    np.testing.assert_array_equal(
        xb.solve(np.full(2, 0.2)).output,
        xbar.Crossbar(G, 1.0, 1.0, device=xbar.Sinh(float(m.group(1))))
        .solve(np.full(2, 0.2))
        .output,
    )


# --- paper 2's mean offset, inner range and output ADC (docs/resilience.md, session 9) ---


def _infer_json(args: list[str], capsys) -> dict:
    import json

    assert main(["infer", *args, "--json", "--no-energy"]) == 0
    return json.loads(capsys.readouterr().out)


def test_resilience_doc_output_levels_table_is_the_real_accuracy(capsys):
    text = (DOCS / "resilience.md").read_text(encoding="utf-8")
    levels = re.search(r"\n\| L \|(.*)\|\n", text).group(1).split("|")
    shown = re.search(r"\n\| accuracy % \|(.*)\|\n", text).group(1).split("|")
    table = dict(zip((int(x) for x in levels), (float(x) for x in shown), strict=True))
    for L in (2, 3, 6, 18):  # a subset: each is one deterministic evaluation of 539 images
        got = _infer_json(["--output-levels", str(L)], capsys)["accuracy"]
        assert round(100 * got, 1) == table[L], f"output_levels={L}"


def test_resilience_doc_mean_offset_and_inner_range_rows(capsys):
    text = (DOCS / "resilience.md").read_text(encoding="utf-8")
    base = ["--programming-error", "weight_range", "--programming-sigma", "0.1", "--g-min", "0"]
    base += ["--repeats", "20", "--seed", "7"]
    rows = {
        r"mu = 0, q = 1 \(the default\)": [],
        r"mu = -0\.02": ["--programming-mu", "-0.02"],
        r"q = 0\.9": ["--weight-range-fraction", "0.9"],
    }
    for label, extra in rows.items():
        m = re.search(rf"\n\| {label} \| ([\d.]+) \[([\d.]+), ([\d.]+)\] \|", text)
        assert m, f"resilience.md lost the row {label!r}"
        got = _infer_json(base + extra, capsys)
        shown = [float(x) for x in m.groups()]
        assert round(100 * got["accuracy"], 1) == shown[0], label
        assert [round(100 * x, 1) for x in got["accuracy_ci95"]] == shown[1:], label


def test_dotted_xbar_names_in_the_docs_exist():
    import importlib

    def resolve(name: str) -> None:
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for attr in parts[i:]:
                obj = getattr(obj, attr)
            return

    names = set()
    for path in [README, *sorted(DOCS.glob("*.md"))]:
        for m in re.finditer(r"`(xbar(?:\.[A-Za-z_]\w*)+)", path.read_text(encoding="utf-8")):
            names.add((path.name, m.group(1)))
    assert len(names) > 20
    for page, name in sorted(names):
        try:
            resolve(name)
        except AttributeError:
            pytest.fail(f"{page} names `{name}`, which does not exist")


def test_readme_crossbar_save_names_the_arrays_written(tmp_path, capsys):
    import numpy as np

    text = " ".join(README.read_text(encoding="utf-8").split())
    sentence = text[text.index("`--save` writes") :].split("to one `.npz`")[0]
    named = set(re.findall(r"\b([VGI](?:_[a-z]+)?)\b", sentence))
    out = tmp_path / "results.npz"
    assert main(["crossbar", "--rows", "4", "--cols", "3", "--save", str(out)]) == 0
    capsys.readouterr()
    assert named == set(np.load(out).files)


def test_options_of_xbar_commands_in_the_docs_exist(capsys):
    # every `--flag` written after `xbar CMD` (in a code block, continuation lines
    # joined, or in one inline code span) is one of that command's flags
    commands = ["solve", "crossbar", "validate", "infer", "sweep", "train", "export-onnx"]
    flags = {}
    for cmd in commands:
        assert main([cmd, "--help"]) == 0
        flags[cmd] = set(re.findall(r"(--[a-z0-9][a-z0-9-]*)", capsys.readouterr().out))
    wrong = []
    for path in [README, *sorted(DOCS.glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        spans = [b.replace("\\\n", " ") for b in re.findall(r"```\w*\n(.*?)```", text, re.S)]
        spans = [line for block in spans for line in block.splitlines()]
        spans += re.findall(r"`(xbar [^`]+)`", text.replace("\n", " "))
        for span in spans:
            for m in re.finditer(r"\bxbar ([a-z-]+)((?: +[^#|;&]*)?)", span):
                cmd, rest = m.groups()
                if cmd not in flags:
                    continue
                for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", rest):
                    if flag not in flags[cmd]:
                        wrong.append(f"{path.name}: xbar {cmd} {flag}")
    assert not wrong, "flags the commands do not have:\n" + "\n".join(sorted(set(wrong)))


def test_named_values_of_config_fields_in_the_docs_are_allowed():
    from xbar.network.config import CHOICES

    checked = 0
    for path in [README, *sorted(DOCS.glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for name, value in re.findall(r"\b(\w+) ?= ?\"(\w+)\"", text):
            if name in CHOICES:
                checked += 1
                assert value in CHOICES[name], f"{path.name}: {name} = {value!r}"
    assert checked > 20


def test_files_named_in_code_spans_exist():
    # `tests/test_x.py`, `benchmarks/bench_x.py::...`, `examples/...`: the files a user
    # would open (a package-relative `validation/framework.py` counts under xbar/)
    pattern = (
        r"`((?:tests|benchmarks|experiments|scripts|examples|netlists|validation|xbar|docs)"
        r"/[\w./-]+?)(?:::[\w\[\].-]+)?`"
    )
    checked = 0
    for path in [README, *sorted(DOCS.glob("*.md"))]:
        for name in re.findall(pattern, path.read_text(encoding="utf-8")):
            name = name.rstrip("/")
            checked += 1
            places = [ROOT / name, path.parent / name, ROOT / "xbar" / name]
            assert any(p.exists() for p in places), f"{path.name} names {name}, not a file"
    assert checked > 50


def test_network_doc_inner_range_table_is_the_real_accuracy(capsys):
    # the table's own command: xbar infer --weight-bits 8 --adc-bits B
    # --adc-range calibrated|inner [--mapping offset] --seed 1 (one deterministic chip)
    text = (DOCS / "network.md").read_text(encoding="utf-8")
    head = "| ADC bits | differential calibrated | differential inner | offset calibrated |"
    table = text[text.index(head) :].split("\n\n")[0].splitlines()[2:]
    rows = {int(r.split("|")[1]): [float(x) for x in r.split("|")[2:6]] for r in table}
    columns = [("differential", "calibrated"), ("differential", "inner")]
    columns += [("offset", "calibrated"), ("offset", "inner")]
    for bits in (3, 5):  # a subset: 4 evaluations of 539 images each
        for (mapping, adc_range), shown in zip(columns, rows[bits], strict=True):
            args = ["--weight-bits", "8", "--adc-bits", str(bits), "--adc-range", adc_range]
            got = _infer_json([*args, "--mapping", mapping, "--seed", "1"], capsys)
            assert round(100 * got["accuracy"], 1) == shown, (bits, mapping, adc_range)


def test_readme_audit_case_count_is_the_script_s(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    from audit_cases import all_cases

    m = re.search(r"scripts/audit\.py +# hostile-input audit: (\d+) cases", README.read_text())
    assert m and int(m.group(1)) == len(all_cases())


def test_no_data_set_path_in_the_docs_relies_on_tilde_expansion():
    # bash leaves `cifar10:~/x` alone (a ~ is expanded only at the start of a word), and
    # xbar reads the path as given: a user copying it would get "folder '~/x' does not exist"
    for path in [README, *sorted(DOCS.glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"--dataset [a-z0-9-]+:~", text), path.name


def test_evaluator_doc_snippet_runs(tmp_path, monkeypatch, capsys):
    code = _block(DOCS / "evaluator.md", "python", "evaluate(load_model")
    # the same statements on 2 chips and 50 images (the page's 20 chips x 539 take seconds)
    code = code.replace("repeats=20", "repeats=2").replace("cfg)\n", "cfg, limit=50)\n")
    assert "limit=50" in code and "repeats=2" in code
    ns = _run(code, tmp_path, monkeypatch)
    res = ns["res"]
    assert res.n_images == 50 and len(res.accuracies) == 2
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 + len(res.layer_stats) and printed[1].startswith("conv1 1 [")
