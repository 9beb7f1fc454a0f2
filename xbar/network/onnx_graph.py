"""Graph-level checks of ONNX files before import: what the file is, its size, its
external data, the order of its nodes and which output holds the logits.

Used by :func:`xbar.network.load_onnx`; each function raises
:class:`~xbar.errors.ModelError` naming the file and the culprit (a node, a tensor, a
missing data file) rather than letting protobuf or numpy fail deep inside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError

__all__ = [
    "MAX_MODEL_BYTES",
    "OutputChoice",
    "check_external_data",
    "check_model_size",
    "pick_output",
    "sniff_format",
    "sorted_nodes",
]

#: largest model (the .onnx file plus its external data) that is read, in bytes: 2 GiB,
#: protobuf's limit for one file and about 500 million float32 weights
MAX_MODEL_BYTES = 2**31

#: file signatures of formats that people give instead of an ONNX file
_SIGNATURES = (
    (b"PK\x03\x04", "a zip archive"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (a Keras .h5 model?)"),
    (b"\x80\x02\x8a\x0a", "a legacy PyTorch checkpoint (torch.save)"),
    (b"\x93NUMPY", "a numpy .npy array"),
    (b"\x1f\x8b", "a gzip file"),
    (b"\x89PNG", "a PNG image"),
)

_EXPORT_HINT = (
    "export an ONNX graph: torch.onnx.export(model.eval(), torch.randn(1, C, H, W), "
    "'net.onnx') for PyTorch, tf2onnx.convert.from_keras(model) or "
    "model.export('net.onnx', format='onnx') for Keras"
)


def sniff_format(path: Path) -> str | None:
    """What a file that failed to parse as ONNX really is, or None when unknown.

    Recognises PyTorch checkpoints (``torch.save`` zip and legacy pickle files), Keras
    ``.keras`` (zip) and ``.h5`` (HDF5) models, TFLite flatbuffers, TensorFlow
    SavedModel ``.pb`` files, numpy arrays, gzip files and images.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return None
    if head.startswith(b"PK\x03\x04"):
        import zipfile

        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return "a zip archive"
        if any(n.endswith("data.pkl") for n in names):
            return "a PyTorch checkpoint (torch.save output, a zip of pickles)"
        if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
            return "a Keras .keras model"
        return f"a zip archive (holding {', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
    if head[4:8] == b"TFL3":
        return "a TensorFlow Lite model (.tflite)"
    if head[:2] == b"\x80\x02" or head[:2] == b"\x80\x04":
        return "a Python pickle (a legacy torch.save checkpoint?)"
    for sig, what in _SIGNATURES:
        if head.startswith(sig):
            return what
    if path.name == "saved_model.pb":
        return "a TensorFlow SavedModel graph (saved_model.pb)"
    return None


def export_hint() -> str:
    """How to write an ONNX file from PyTorch or Keras (for error hints)."""
    return _EXPORT_HINT


def check_model_size(path: Path, source: str) -> None:
    """Refuse an ``.onnx`` file above :data:`MAX_MODEL_BYTES` before reading it."""
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelError(
            f"{source}: the ONNX file is {size / 2**30:.2f} GiB; files above "
            f"{MAX_MODEL_BYTES / 2**30:.0f} GiB are not read",
            hint="protobuf cannot hold a graph this large in one file; a network of this "
            "size (over 500 million weights) is far beyond a simulated crossbar chip",
        )


def check_external_data(proto, base: Path, source: str) -> None:
    """Check, before reading any of it, that every external-data file exists next to the
    model and that the declared data fit in :data:`MAX_MODEL_BYTES` in total."""
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    total, sizes = 0, {}
    for init in proto.graph.initializer:
        if not uses_external_data(init):
            continue
        info = ExternalDataInfo(init)
        where = base / info.location
        if info.location not in sizes:
            if not where.is_file():
                raise ModelError(
                    f"{source}: initializer {init.name!r} is stored in the external data "
                    f"file {info.location!r}, which is missing (looked for {str(where)!r})",
                    hint="keep the external data file the exporter wrote next to the .onnx file "
                    "(move or copy both together)",
                )
            sizes[info.location] = where.stat().st_size
        length = info.length if info.length else sizes[info.location]
        total += length
        if total > MAX_MODEL_BYTES:
            raise ModelError(
                f"{source}: its external data declare more than "
                f"{MAX_MODEL_BYTES / 2**30:.0f} GiB (at initializer {init.name!r}); not read",
                hint="a network of this size (over 500 million weights) is far beyond a "
                "simulated crossbar chip",
            )


def _check_single_definitions(graph, source: str) -> None:
    """Refuse a tensor name defined twice (two nodes' outputs, a node output that is also
    an initializer or a graph input, two initializers): which value a reader takes is
    then arbitrary (onnxruntime refuses: 'Duplicate definition of name')."""
    seen: dict[str, str] = {}
    inits = {i.name for i in graph.initializer}
    defs = [(i.name, f"graph input {i.name!r}") for i in graph.input if i.name not in inits]
    defs += [(i.name, f"initializer {i.name!r}") for i in graph.initializer]
    for n in graph.node:
        what = f"an output of node {n.name or '(unnamed)'!r} (op {n.op_type})"
        defs += [(o, what) for o in n.output if o]
    for name, what in defs:
        if name in seen:
            raise ModelError(
                f"{source}: the tensor name {name!r} is defined twice: {seen[name]} and {what}",
                hint="the file is corrupted or not written by an exporter (onnxruntime "
                "refuses it too: 'Duplicate definition of name'); re-export it",
            )
        seen[name] = what


def sorted_nodes(graph, available: set[str], source: str) -> list:
    """The graph's nodes in an order where every node follows the producers of its inputs
    (the stored order when it already is one); a cycle is refused naming its nodes, and
    so is a tensor name that two definitions share."""
    _check_single_definitions(graph, source)
    produced = {o for n in graph.node for o in n.output if o}
    ready = set(available) | {""}
    for n in graph.node:
        if not _inputs_ready(n, ready, produced):
            break
        ready.update(n.output)
    else:
        return list(graph.node)  # already in order
    ready = set(available) | {""}
    pending, order = list(graph.node), []
    while pending:
        rest = [n for n in pending if not _inputs_ready(n, ready, produced)]
        done = [n for n in pending if _inputs_ready(n, ready, produced)]
        if not done:
            rest = _cycle_only(rest)
            names = ", ".join(f"{n.name or '(unnamed)'!r} (op {n.op_type})" for n in rest[:6])
            raise ModelError(
                f"{source}: the graph has a cycle: nodes {names}"
                f"{' ...' if len(rest) > 6 else ''} wait on each other's outputs",
                hint="the file is corrupted or not written by an exporter; re-export it",
            )
        for n in done:
            order.append(n)
            ready.update(n.output)
        pending = rest
    return order


def _cycle_only(nodes: list) -> list:
    """Drop the nodes downstream of a cycle (they wait on it but are not part of it)."""
    while True:
        used = {i for n in nodes for i in n.input}
        kept = [n for n in nodes if any(o in used for o in n.output)]
        if len(kept) == len(nodes):
            return nodes
        nodes = kept


def _inputs_ready(node, ready: set[str], produced: set[str]) -> bool:
    # an input that no node produces is left to the importer to name (missing tensor)
    return all(i in ready or i not in produced for i in node.input)


@dataclass(frozen=True)
class OutputChoice:
    """Which tensor holds the logits.

    ``tensor`` is imported as the model output; ``argmax`` names the graph output that
    was the ``ArgMax`` of it (classification by index) with the ArgMax ``axis``, or None;
    ``note`` says why this output was chosen among several (empty when there was one).
    """

    tensor: str
    argmax: str | None = None
    axis: int = -1
    note: str = ""


#: ops that change only the shape or type of an ArgMax's class index
_INDEX_PASSTHROUGH = ("Identity", "Cast", "Squeeze", "Unsqueeze", "Reshape", "Flatten")


def _through_argmax(graph, name: str, source: str) -> OutputChoice:
    """The logits behind output ``name``: the input of an ArgMax that ``name`` is (through
    reshapes and casts of the index), or ``name`` itself."""
    from onnx import helper

    producers = {o: n for n in graph.node for o in n.output}
    t = name
    while t in producers and producers[t].op_type in _INDEX_PASSTHROUGH:
        t = producers[t].input[0]
    node = producers.get(t)
    if node is None or node.op_type != "ArgMax":
        return OutputChoice(name)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("select_last_index", 0):
        raise ModelError(
            f"{source}: node {node.name or '(unnamed)'!r} (op ArgMax): select_last_index=1 "
            "is not supported (xbar takes the first of equal logits)",
        )
    return OutputChoice(node.input[0], argmax=name, axis=int(attrs.get("axis", 0)))


def _declared(graph, name: str) -> str:
    for vi in graph.output:
        if vi.name == name and vi.type.tensor_type.HasField("shape"):
            dims = [d.dim_param or str(d.dim_value) for d in vi.type.tensor_type.shape.dim]
            return f"{name!r} ({', '.join(dims)})"
    return repr(name)


def pick_output(graph, requested: str | None, source: str) -> OutputChoice:
    """Choose the tensor holding the logits among the graph's outputs.

    ``requested`` (a graph output or any tensor name) wins.  Else an output that is the
    ``ArgMax`` of a tensor stands for that tensor, and an output that is the
    ``Softmax``/``LogSoftmax``/``Sigmoid`` of another candidate is dropped (the same
    classification); one candidate left is the answer, several are refused by name.
    """
    outputs = [o.name for o in graph.output]
    if requested is not None:
        produced = {o for n in graph.node for o in n.output}
        if requested not in produced and requested not in outputs:
            raise ModelError(
                f"{source}: output {requested!r} is not a tensor of the graph",
                hint="its outputs: " + ", ".join(map(repr, outputs)),
            )
        return _through_argmax(graph, requested, source)
    if not outputs:
        raise ModelError(f"{source}: the graph has no outputs")
    choices = {}
    for o in outputs:
        c = _through_argmax(graph, o, source)
        choices.setdefault(c.tensor, c)
    producers = {o: n for n in graph.node for o in n.output}
    keep = [
        c
        for t, c in choices.items()
        if not (
            t in producers
            and producers[t].op_type in ("Softmax", "LogSoftmax", "Sigmoid")
            and producers[t].input[0] in choices
        )
    ]
    if len(keep) == 1:
        c = keep[0]
        note = ""
        if len(outputs) > 1:
            note = f"logits {c.tensor!r} chosen among the outputs {', '.join(outputs)}"
        return OutputChoice(c.tensor, c.argmax, c.axis, note)
    raise ModelError(
        f"{source}: the graph has {len(outputs)} outputs "
        f"({', '.join(_declared(graph, o) for o in outputs)}); which one holds the logits?",
        hint="name it: load_onnx(path, output='NAME'), or --model 'FILE.onnx#NAME' on "
        "the command line",
    )


def check_types(model, source: str, nodes: list | None = None) -> None:
    """Refuse a graph that does not type-check (a Concat of int64 and int8 shape tensors,
    a Reshape of a float shape): onnxruntime refuses such files when it loads them, and
    xbar, which computes in numpy, would otherwise run them.  ONNX's shape inference runs
    in strict mode on a light copy: large initializers by type and shape only (not read), and
    no declared intermediate or output shapes (onnxruntime ignores stale ones, so a file
    edited by hand is not refused for them).  Ops of other domains are left to the
    importer, which names them."""
    from onnx import ModelProto, helper, shape_inference

    g = model.graph
    inits = {t.name for t in g.initializer}
    inputs = [i for i in g.input if i.name not in inits]
    small = []  # shape tensors, scales: shape inference reads their values
    for t in g.initializer:
        if math.prod(t.dims) <= 4096 and t.data_location != t.EXTERNAL:
            small.append(t)
        else:  # weights: type and shape only, their data neither copied nor read
            inputs.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    outputs = []
    for o in g.output:
        o = type(o).FromString(o.SerializeToString())
        if o.type.HasField("tensor_type"):
            o.type.tensor_type.ClearField("shape")
        outputs.append(o)
    light = ModelProto()
    light.ir_version = max(model.ir_version, 4)
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    order = list(g.node) if nodes is None else nodes  # topological (nodes stored out of order)
    light.graph.CopyFrom(helper.make_graph(order, g.name or "g", inputs, outputs, small))
    try:
        shape_inference.infer_shapes(light, check_type=True, strict_mode=True)
    except Exception as exc:  # noqa: BLE001 - InferenceError, ValidationError, ...
        text = str(exc).strip().splitlines()
        first = next((t for t in text if t.strip()), type(exc).__name__)
        if any(k in str(exc) for k in ("No Op registered", "not a registered", "domain")):
            return  # another domain's op: the importer names it
        raise ModelError(
            f"{source}: the graph does not type-check: {first.strip()[:300]}",
            hint="onnxruntime refuses this file too; the file is corrupted or was edited "
            "by hand: re-export it",
        ) from None
