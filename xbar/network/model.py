"""A model: a directed acyclic graph of layers (a plain list is a chain) and its file format.

A model is a list of nodes in topological order.  Each node applies one layer to
named tensors: the model input is called ``"input"`` and every node's output is
called after its layer.  A plain :class:`~xbar.network.layers.Layer` in the list
is a node fed by the previous entry (so a sequential model is just a list of
layers); :class:`Node` names its inputs explicitly (residual adds, concatenations,
branches).  :class:`~xbar.network.layers.Residual` blocks nest inside a node.  The
last node's output is the model output (logits).

A saved model is two files side by side: ``NAME.json`` (architecture: layer types,
names, hyper-parameters and, for graphs, each node's inputs) and ``NAME.npz``
(arrays, keyed ``"<layer>/<param>"``); :func:`model_from_config` builds a model from
them, and :mod:`xbar.network.model_io` reads and writes the files.  Images are NHWC
throughout (see :mod:`xbar.network.layers`).
"""

from __future__ import annotations

import copy as _copy
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import ModelError, ShapeError, ValueRangeError, XbarError
from .layers import (
    LAYER_TYPES,
    MVM,
    BatchNorm,
    Conv2D,
    Dense,
    Layer,
    Residual,
    argmax,
)
from .ops import OP_TYPES

FORMAT = "xbar-model"
#: version written for graphs (sequential models are still written as version 1)
FORMAT_VERSION = 2
#: the name of the model input tensor
INPUT = "input"
#: every layer type a saved model may hold
ALL_TYPES: dict[str, type[Layer]] = {**LAYER_TYPES, **OP_TYPES}


def iter_layers(layers: list[Layer]) -> Iterator[Layer]:
    """Every layer in forward order, containers before their children."""
    for layer in layers:
        yield layer
        yield from iter_layers(layer.children())


@dataclass
class Node:
    """One step of a graph model: ``layer`` applied to the tensors named in ``inputs``.

    Parameters
    ----------
    layer : Layer
        The operation; its name is the name of the node's output tensor.
    inputs : tuple of str, optional
        Tensor names (``"input"`` or earlier layers' names); ``None`` means the
        previous node's output.
    """

    layer: Layer
    inputs: tuple[str, ...] | None = None

    @property
    def output(self) -> str:
        """Name of the output tensor (the layer's name)."""
        return self.layer.name


class Model:
    """A feed-forward network: a chain or a directed acyclic graph of layers.

    Parameters
    ----------
    layers : list of Layer or Node
        Nodes in topological order; a bare Layer is fed by the previous entry
        (the first by the model input).  :class:`~xbar.network.layers.Residual`
        blocks nest.
    input_shape : tuple of int
        Per-sample input shape, e.g. ``(8, 8, 1)`` (NHWC without the batch axis).
    classes : int
        Number of output classes (logits per sample).
    name : str
        Model name (informational).
    meta : dict, optional
        JSON-serialisable notes saved with the model (e.g. where it was imported from).

    Unnamed layers get unique names ``<kind><k>`` (``conv2d1``, ``dense2``, ...);
    every node input must name the model input or an earlier node, every node's
    output must be used, and the shapes must chain, else
    :class:`~xbar.errors.ModelError` / :class:`~xbar.errors.ShapeError` names the
    first node that does not fit.

    Examples
    --------
    >>> from xbar.network import Model, Node, Dense, ReLU, Concat
    >>> m = Model([Dense(4, 3, name="a"), Node(Dense(4, 3, name="b"), ("input",)),
    ...            Node(Concat(0, name="cat"), ("a", "b")), ReLU(name="relu"),
    ...            Dense(6, 2, name="fc")], (4,), 2)
    >>> m.is_sequential, [la.name for la in m.matmul_layers()]
    (False, ['a', 'b', 'fc'])
    """

    def __init__(
        self,
        layers: list[Layer | Node],
        input_shape: tuple[int, ...],
        classes: int,
        name: str = "model",
        meta: dict | None = None,
    ) -> None:
        self.nodes = [e if isinstance(e, Node) else Node(e) for e in layers]
        if not self.nodes:
            raise ModelError(f"model {name!r} has no layers")
        self.input_shape = tuple(int(s) for s in input_shape)
        self.classes = int(classes)
        self.name = str(name)
        self.meta = dict(meta or {})
        self._name_layers()
        self._link()
        out = self.shapes()[self.output]
        if out != (self.classes,):
            raise ShapeError(
                f"model {self.name!r}: the last layer gives per-sample shape {out}, "
                f"expected ({self.classes},) logits"
            )

    @property
    def layers(self) -> list[Layer]:
        """The layer of every node, in topological order (containers not expanded)."""
        return [n.layer for n in self.nodes]

    @property
    def output(self) -> str:
        """Name of the output tensor (the last node's)."""
        return self.nodes[-1].output

    @property
    def is_sequential(self) -> bool:
        """True when every node takes the previous node's output only (a chain)."""
        prev = INPUT
        for n in self.nodes:
            if n.inputs != (prev,):
                return False
            prev = n.output
        return True

    def _name_layers(self) -> None:
        seen: set[str] = set()
        counts: dict[str, int] = {}
        for layer in iter_layers(self.layers):
            if layer.name is None:
                k = counts.get(layer.kind, 0)
                while True:
                    k += 1
                    cand = f"{layer.kind}{k}"
                    if cand not in seen:
                        break
                counts[layer.kind] = k
                layer.name = cand
            if layer.name in seen:
                raise ModelError(f"model {self.name!r}: duplicate layer name {layer.name!r}")
            if "/" in layer.name or layer.name == INPUT:
                raise ModelError(f"layer name {layer.name!r} must not contain '/' nor be {INPUT!r}")
            seen.add(layer.name)

    def _link(self) -> None:
        """Resolve default inputs, check references, arity and that every output is used."""
        prev, known, used = INPUT, {INPUT}, set()
        for n in self.nodes:
            n.inputs = (prev,) if n.inputs is None else tuple(str(t) for t in n.inputs)
            where = f"model {self.name!r}: node {n.output!r} ({type(n.layer).__name__})"
            for t in n.inputs:
                if t not in known:
                    raise ModelError(
                        f"{where}: input {t!r} is neither {INPUT!r} nor an earlier node's output",
                        hint="list nodes in topological order",
                    )
            arity = n.layer.arity
            if (arity is None and not n.inputs) or (arity is not None and len(n.inputs) != arity):
                raise ModelError(
                    f"{where} takes {arity or 'one or more'} input(s), got {len(n.inputs)}"
                )
            used.update(n.inputs)
            known.add(n.output)
            prev = n.output
        dead = [n.output for n in self.nodes[:-1] if n.output not in used]
        if dead:
            raise ModelError(
                f"model {self.name!r}: the outputs of {dead[:5]} are never used",
                hint="every node except the last must feed another node",
            )

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample shape of every tensor (``"input"`` and each node's output)."""
        shapes = {INPUT: self.input_shape}
        for n in self.nodes:
            ins = [shapes[t] for t in n.inputs]
            shapes[n.output] = tuple(n.layer.output_shape(ins[0] if n.layer.arity == 1 else ins))
        return shapes

    def check_trainable(self) -> None:
        """Raise :class:`~xbar.errors.ModelError` naming the first layer without a backward pass."""
        for layer in iter_layers(self.layers):
            if not layer.supports_backward:
                raise ModelError(
                    f"model {self.name!r}: layer {layer.name!r} "
                    f"({type(layer).__name__}, {layer.config()}) cannot be trained",
                    hint="training supports Dense, Conv2D (groups 1), unpadded "
                    "square pools, ReLU, BatchNorm, Residual, Flatten, "
                    "activations, add/sub/mul, reshape, transpose, concat",
                )

    # -- structure --------------------------------------------------------------------
    def all_layers(self) -> list[Layer]:
        """Every layer (containers and their children) in forward order."""
        return list(iter_layers(self.layers))

    def layer(self, name: str) -> Layer:
        """The layer called ``name``."""
        for layer in iter_layers(self.layers):
            if layer.name == name:
                return layer
        raise ModelError(f"model {self.name!r} has no layer {name!r}")

    def matmul_layers(self) -> list[Dense | Conv2D]:
        """Dense and Conv2D layers in forward order (the layers the mvm hook sees)."""
        return [la for la in iter_layers(self.layers) if isinstance(la, Dense | Conv2D)]

    def parameters(self) -> dict[str, np.ndarray]:
        """Trainable arrays keyed ``"<layer>/<param>"`` (live references)."""
        return {
            f"{la.name}/{k}": v for la in iter_layers(self.layers) for k, v in la.params().items()
        }

    def gradients(self) -> dict[str, np.ndarray]:
        """Gradients from the last :meth:`backward`, keyed like :meth:`parameters`."""
        return {
            f"{la.name}/{k}": la.grads[k] for la in iter_layers(self.layers) for k in la.param_names
        }

    def state(self) -> dict[str, np.ndarray]:
        """Copies of every saved array (parameters and buffers), keyed ``"<layer>/<name>"``."""
        out = {}
        for la in iter_layers(self.layers):
            for k, v in {**la.params(), **la.buffers()}.items():
                out[f"{la.name}/{k}"] = np.array(v, dtype=float, copy=True)
        return out

    def n_parameters(self) -> int:
        """Number of trainable scalars."""
        return int(sum(v.size for v in self.parameters().values()))

    def config(self) -> dict:
        """JSON-serialisable architecture description."""
        seq = self.is_sequential
        layers = [
            n.layer.config() if seq else {**n.layer.config(), "inputs": list(n.inputs)}
            for n in self.nodes
        ]
        cfg = {
            "format": FORMAT,
            "version": 1 if seq else FORMAT_VERSION,
            "name": self.name,
            "layout": "NHWC",
            "input_shape": list(self.input_shape),
            "classes": self.classes,
            "layers": layers,
        }
        if self.meta:
            cfg["meta"] = self.meta
        return cfg

    def __repr__(self) -> str:
        return (
            f"Model({self.name!r}, input_shape={self.input_shape}, classes={self.classes}, "
            f"layers={len(self.all_layers())}, parameters={self.n_parameters()})"
        )

    # -- copies -----------------------------------------------------------------------
    def copy(self) -> Model:
        """An independent deep copy (no shared arrays; forward caches are not copied)."""
        return _copy.deepcopy(self)

    def with_params(
        self,
        params: dict[str, np.ndarray] | None = None,
        *,
        name: str | None = None,
        **by_layer: dict[str, np.ndarray],
    ) -> Model:
        """A copy with some arrays replaced.

        Parameters
        ----------
        params : dict, optional
            New arrays keyed ``"<layer>/<param>"`` (parameters or buffers), e.g.
            ``{"conv2d1/W": W, "conv2d1/b": b}``; each must keep its shape.
        name : str, optional
            Name of the copy.
        **by_layer
            Alternatively ``layer_name={"W": ..., "b": ...}``.

        Examples
        --------
        >>> from xbar.network import load_model
        >>> m = load_model("default")
        >>> L = m.matmul_layers()[0]
        >>> m2 = m.with_params({f"{L.name}/b": L.b + 1.0})
        >>> bool((m2.layer(L.name).b == L.b + 1.0).all())
        True
        """
        new = self.copy()
        if name is not None:
            new.name = name
        items = dict(params or {})
        for lname, d in by_layer.items():
            items.update({f"{lname}/{k}": v for k, v in d.items()})
        for key, value in items.items():
            lname, _, pname = key.partition("/")
            layer = new.layer(lname)
            if pname not in layer.param_names + layer.buffer_names:
                raise ModelError(f"layer {lname!r} has no array {pname!r}")
            old = getattr(layer, pname)
            value = np.array(value, dtype=float, copy=True)
            if value.shape != old.shape:
                # allow W2d-shaped replacements for convolutions
                if value.size == old.size and pname == "W":
                    value = value.reshape(old.shape)
                else:
                    raise ShapeError(f"{key}: expected shape {old.shape}, got {value.shape}")
            setattr(layer, pname, value)
        return new

    # -- computation ------------------------------------------------------------------
    def _check_input(self, x) -> np.ndarray:
        from ..checks import real_array

        x = real_array(f"inputs of model {self.name!r}", x, allow_bool=True)
        if x.shape[1:] != self.input_shape:
            raise ShapeError(
                f"model {self.name!r} expects inputs of shape (batch, "
                f"{', '.join(map(str, self.input_shape))}) (NHWC), got {x.shape}"
            )
        if not np.isfinite(x).all():
            where = tuple(int(k) for k in np.argwhere(~np.isfinite(x))[0])
            raise ValueRangeError(
                f"inputs of model {self.name!r} hold {x[where]} at index {where}; "
                "images must be finite numbers"
            )
        return x

    def forward(self, x: np.ndarray, mvm: MVM | None = None, training: bool = False) -> np.ndarray:
        """Logits for a batch.

        Parameters
        ----------
        x : ndarray
            Inputs, shape ``(B, *input_shape)`` (NHWC images).
        mvm : callable, optional
            Hook ``mvm(layer, X2d) -> X2d @ layer.W2d`` for every matmul layer
            (``X2d`` of shape ``(P, n_in)``); the bias is added by the layer.
        training : bool
            Batch-norm uses batch statistics (and updates its running ones) and the
            layers keep what :meth:`backward` needs.

        Returns
        -------
        ndarray
            Logits, shape ``(B, classes)``.
        """
        x = self._check_input(x)
        values = {INPUT: x}
        left: dict[str, int] = {}
        for n in self.nodes:
            for t in n.inputs:
                left[t] = left.get(t, 0) + 1
        for n in self.nodes:
            args = [values[t] for t in n.inputs]
            values[n.output] = n.layer.forward(
                args[0] if n.layer.arity == 1 else args, training=training, mvm=mvm
            )
            for t in n.inputs:  # free tensors nobody needs any more
                left[t] -= 1
                if left[t] == 0:
                    del values[t]
        return values[self.output]

    def backward(self, dlogits: np.ndarray) -> np.ndarray:
        """Back-propagate the logit gradient of the last ``forward(training=True)``.

        Parameter gradients land in each layer's ``grads`` (see :meth:`gradients`);
        returns the gradient with respect to the input.  Gradients of a tensor that
        feeds several nodes are summed.
        """
        grads = {self.output: np.asarray(dlogits, dtype=float)}
        for n in reversed(self.nodes):
            dy = grads.pop(n.output)
            dx = n.layer.backward(dy)
            for t, g in zip(n.inputs, [dx] if n.layer.arity == 1 else dx, strict=True):
                grads[t] = grads[t] + g if t in grads else g
        return grads[INPUT]

    def predict(self, x: np.ndarray, batch_size: int = 256, mvm: MVM | None = None) -> np.ndarray:
        """Predicted class indices, shape ``(B,)``, computed in batches."""
        x = self._check_input(x)
        from ..checks import positive_int

        batch_size = positive_int("batch_size", batch_size)
        out = np.empty(x.shape[0], dtype=np.int64)
        for s in range(0, x.shape[0], batch_size):
            out[s : s + batch_size] = argmax(self.forward(x[s : s + batch_size], mvm=mvm))
        return out

    def accuracy(
        self, x: np.ndarray, y: np.ndarray, batch_size: int = 256, mvm: MVM | None = None
    ) -> float:
        """Fraction of correctly classified samples."""
        return float(np.mean(self.predict(x, batch_size=batch_size, mvm=mvm) == np.asarray(y)))

    # -- batch-norm folding -----------------------------------------------------------
    def fold_batchnorm(self) -> Model:
        """A copy with every BatchNorm that directly follows a Dense/Conv2D folded into it.

        A BatchNorm directly follows a matmul layer when its only input is that
        layer's output and nothing else uses that output (in a residual block's
        body or shortcut: the next entry of the same list).  Folding uses the
        running statistics: ``W' = W * s``, ``b' = (b - mean) * s + beta`` with
        ``s = gamma / sqrt(var + eps)``.  Other BatchNorms (e.g. pre-activation ones
        after a residual add) stay as digital per-channel affine layers.  The folded
        model's evaluation-mode outputs equal the original's to round-off.
        """
        new = self.copy()
        for layer in new.layers:
            if isinstance(layer, Residual):
                _fold_list([layer])
        uses: dict[str, int] = {}
        for n in new.nodes:
            for t in n.inputs:
                uses[t] = uses.get(t, 0) + 1
        producer = {n.output: n for n in new.nodes}
        rename: dict[str, str] = {}
        kept: list[Node] = []
        for n in new.nodes:
            n.inputs = tuple(rename.get(t, t) for t in n.inputs)
            src = producer.get(n.inputs[0])
            if (
                isinstance(n.layer, BatchNorm)
                and src is not None
                and isinstance(src.layer, Dense | Conv2D)
                and uses[src.output] == 1
            ):
                scale, shift = n.layer.scale_shift()
                src.layer.W = src.layer.W * scale
                src.layer.b = src.layer.b * scale + shift
                rename[n.output] = src.output
                continue
            kept.append(n)
        return Model(kept, new.input_shape, new.classes, name=new.name, meta=new.meta)


def _fold_list(layers: list[Layer]) -> list[Layer]:
    out: list[Layer] = []
    for layer in layers:
        if isinstance(layer, Residual):
            layer.body = _fold_list(layer.body)
            if layer.shortcut is not None:
                layer.shortcut = _fold_list(layer.shortcut)
        if isinstance(layer, BatchNorm) and out and isinstance(out[-1], Dense | Conv2D):
            prev = out[-1]
            scale, shift = layer.scale_shift()
            prev.W = prev.W * scale
            prev.b = prev.b * scale + shift
            continue
        out.append(layer)
    return out


# ====================================================================================
# save / load
# ====================================================================================
def _layer_from_config(cfg: dict, where: str) -> Layer:
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise ModelError(f"{where}: each layer must be an object with a 'type'")
    kind = cfg["type"]
    kw = {k: v for k, v in cfg.items() if k not in ("type", "inputs")}
    if isinstance(kw.get("name"), str):
        where = f"{where} (layer {kw['name']!r}, type {kind})"
    cls = ALL_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ModelError(
            f"{where}: unknown layer type {kind!r}", hint="one of " + ", ".join(sorted(ALL_TYPES))
        )
    _check_layer_fields(cls, kw, where)
    if cls is Residual:
        kw["body"] = [
            _layer_from_config(c, f"{where}.body[{i}]") for i, c in enumerate(kw.get("body") or [])
        ]
        sc = kw.get("shortcut")
        kw["shortcut"] = (
            None
            if sc is None
            else [_layer_from_config(c, f"{where}.shortcut[{i}]") for i, c in enumerate(sc)]
        )
    try:
        return cls(**kw)
    except XbarError as exc:
        exc.add_context(where)  # the layer's own message, placed in the file
        raise
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{where}: bad layer description: {exc}") from None
    except MemoryError as exc:
        sizes = {k: v for k, v in kw.items() if isinstance(v, int) and not isinstance(v, bool)}
        big = max(sizes, key=sizes.get) if sizes else "a size field"
        raise ModelError(
            f"{where}: the layer's arrays do not fit in memory ({exc}); is field "
            f"{big!r} = {sizes.get(big)} right?"
        ) from None


_FIELD_TYPES = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "None": (type(None),),
    "bool": (bool,),
}


def _check_layer_fields(cls: type, kw: dict, where: str) -> None:
    """Unknown, missing and wrongly typed fields of a layer description, named one by one."""
    import inspect

    params = dict(inspect.signature(cls.__init__).parameters)
    params.pop("self", None)
    free = [n for n, p in params.items() if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    for n in free:
        params.pop(n)
    for key in kw:
        if key not in params and not free:
            raise ModelError(
                f"{where}: unknown field {key!r} for a {cls.__name__} layer",
                hint="fields: " + ", ".join(params),
            )
    for name, p in params.items():
        if p.default is inspect.Parameter.empty and name not in kw:
            raise ModelError(f"{where}: field {name!r} is missing")
        if name not in kw or not isinstance(p.annotation, str):
            continue
        allowed = [_FIELD_TYPES.get(t.strip()) for t in p.annotation.split("|")]
        if any(a is None for a in allowed):
            continue  # arrays, lists of layers: checked by the layer itself
        value = kw[name]
        ok = any(isinstance(value, a) for a in allowed) and not (
            isinstance(value, bool) and bool not in sum(allowed, ())
        )
        if not ok:
            raise ModelError(f"{where}: field {name!r} = {value!r} must be {p.annotation}")
        signed = name in getattr(cls, "signed_fields", ())  # clip bounds, pad values, ...
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and not (math.isfinite(value) and (signed or value >= 0))
        ):
            need = "a finite number" + ("" if signed else " >= 0")
            raise ModelError(f"{where}: field {name!r} = {value!r} must be {need}")


def model_from_config(
    cfg: dict,
    arrays: dict[str, np.ndarray] | None = None,
    source: str = "<config>",
    arrays_source: str | None = None,
) -> Model:
    """Build a model from its JSON description and (optionally) its arrays.

    ``source`` and ``arrays_source`` name where the description and the arrays came
    from in error messages.  Raises :class:`~xbar.errors.ModelError` for a bad
    description or arrays that do not fit it (missing, unexpected, wrong shape), and
    :class:`~xbar.errors.ShapeError` for layers whose shapes do not chain.
    """
    shape, classes = _check_header(cfg, source)
    model = _model_from_layers(cfg, shape, classes, source)
    if arrays is not None:
        _check_arrays(model, arrays, source, arrays_source or source)
        model = model.with_params(arrays)
    return model


def _check_header(cfg, source: str) -> tuple[tuple[int, ...], int]:
    """Format, version, layout and the input shape and class count of a model description."""
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise ModelError(
            f"{source}: not a valid xbar model file: its 'format' field is not {FORMAT!r}"
        )
    version = cfg.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelError(f"{source}: field 'version' must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ModelError(
            f"{source}: model format version {version} is newer than this xbar "
            f"reads (version {FORMAT_VERSION})",
            hint="upgrade xbar, or save the model again with this version",
        )
    if cfg.get("layout", "NHWC") != "NHWC":
        raise ModelError(f"{source}: layout {cfg.get('layout')!r} unsupported (NHWC only)")
    if not isinstance(cfg.get("layers"), list):
        raise ModelError(f"{source}: field 'layers' must be a list of layer objects")
    shape = cfg.get("input_shape")
    if not (
        isinstance(shape, list | tuple)
        and shape
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape)
    ):
        raise ModelError(
            f"{source}: field 'input_shape' must be a list of positive integers, got {shape!r}"
        )
    classes = cfg.get("classes")
    if not (isinstance(classes, int) and not isinstance(classes, bool) and classes >= 1):
        raise ModelError(f"{source}: field 'classes' must be a positive integer, got {classes!r}")
    return tuple(shape), classes


def _model_from_layers(cfg: dict, shape: tuple[int, ...], classes: int, source: str) -> Model:
    """The model of the description's ``layers`` (each with its ``inputs`` in a graph)."""
    try:
        layers: list[Layer | Node] = []
        for i, c in enumerate(cfg["layers"]):
            layer = _layer_from_config(c, f"{source}: layers[{i}]")
            inputs = c.get("inputs")
            if inputs is not None and not (
                isinstance(inputs, list) and all(isinstance(t, str) for t in inputs)
            ):
                raise ModelError(f"{source}: layers[{i}]: 'inputs' must be a list of names")
            layers.append(layer if inputs is None else Node(layer, tuple(inputs)))
        meta = cfg.get("meta") if isinstance(cfg.get("meta"), dict) else None
        return Model(layers, shape, classes, name=str(cfg.get("name", "model")), meta=meta)
    except KeyError as exc:
        raise ModelError(f"{source}: missing field {exc.args[0]!r}") from None
    except XbarError as exc:
        if not exc.message.startswith(source):
            exc.add_context(source)
        raise
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{source}: bad layer description: {exc}") from None


def _check_arrays(model: Model, arrays: dict, source: str, where: str) -> None:
    """Arrays ``where`` must be exactly the model's parameters, of its shapes, finite."""
    expected = model.state()
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise ModelError(
            f"{where}: arrays do not match the architecture of {source}"
            + (f"; missing {missing[:5]}" if missing else "")
            + (f"; unexpected {extra[:5]}" if extra else "")
        )
    for key, old in expected.items():
        arr = np.asarray(arrays[key])
        if arr.shape != old.shape:
            raise ModelError(
                f"{where}: array {key!r} has shape {arr.shape}, but the "
                f"architecture in {source} needs {old.shape}"
            )
        if arr.dtype.kind not in "biuf" or not np.isfinite(arr).all():
            raise ModelError(f"{where}: array {key!r} must hold finite numbers")
