"""The layer graph of a network description: shapes, gradients needed, MACs and sizes.

`build(desc_or_name)` checks a description (`workloads.networks`), infers every shape (CHW, batch
1) and returns a `Network`: layers in execution order, the loss as the last node. A description
error raises `ModelError` naming the network and the layer.

Conventions the kernels and the planner share:
- weights: Conv2D [Cout, Cin, Kh, Kw], PointWise [Cout, Cin], DepthWise [C, Kh, Kw], Linear
  [out, in]; no biases. Activations CHW; Linear outputs are [out, 1, 1].
- padding is explicit (top, bottom, left, right), the fields of kernels' `ConvGeom`.
- phases: FORWARD; WEIGHT_GRAD (dL/dW, trainable layers); INPUT_GRAD (dL/dx, only when some
  input needs a gradient: a layer fed only by the network input, like the first conv, has none,
  unless the description sets input_requires_grad); UPDATE (SGD w -= lr*dW, trainable layers).
  When a tensor feeds several layers (ResNet skips), its gradient is the sum of their input
  gradients: `Layer.accumulate[i]` is True when input i's gradient is added to one written
  earlier in the backward pass (the kernel reads, adds and writes it back).

MAC counting rule (one MAC = one multiply-accumulate of the layer's arithmetic):
- Conv2D forward: Cout*Ho*Wo*Cin*Kh*Kw (padded taps included, as the im2col matmul does them);
  PointWise: Cout*H*W*Cin; DepthWise: C*Ho*Wo*Kh*Kw (no Cin sum); Linear: out*in.
- WEIGHT_GRAD and INPUT_GRAD of those layers: equal to the forward count (each forward product
  w*x has exactly one counterpart dY*x in dW and one dY*w in dX). A kernel may do more work than
  that (e.g. the zero taps of a stride-2 input gradient); this counts the useful work.
- ReLU, pools, Add, the loss and UPDATE: 0 MACs (element-wise work, not counted).
- A training step's MACs = FORWARD + WEIGHT_GRAD + INPUT_GRAD of every layer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from mcusim.workloads import networks

Shape = tuple[int, int, int]
DTYPE_BYTES: dict[str, int] = {"fp32": 4, "fp16": 2, "bf16": 2}
INPUT = "input"                              # the name of the network input

WEIGHTED = ("Conv2D", "PointWise", "DepthWise", "Linear")
LOSSES = ("CrossEntropy", "MSE")
_KEYS: dict[str, set[str]] = {                # allowed keys per layer type (beyond name/type/input)
    "Conv2D": {"out_channels", "kernel", "stride", "padding"},
    "PointWise": {"out_channels"},
    "DepthWise": {"kernel", "stride", "padding"},
    "Linear": {"out_features"},
    "ReLU": set(),
    "AvgPool": {"kernel", "stride", "global"},
    "MaxPool": {"kernel", "stride"},
    "Add": {"skip", "shortcut"},
}
_REQUIRED: dict[str, set[str]] = {
    "Conv2D": {"out_channels", "kernel"}, "PointWise": {"out_channels"}, "DepthWise": {"kernel"},
    "Linear": {"out_features"}, "MaxPool": {"kernel"}, "Add": {"skip"},
}


class Phase(str, Enum):
    FORWARD = "forward"
    WEIGHT_GRAD = "weight_grad"
    INPUT_GRAD = "input_grad"
    UPDATE = "update"

    @property
    def short(self) -> str:
        return {"forward": "FW", "weight_grad": "WG", "input_grad": "IG", "update": "UP"}[self.value]


MAC_PHASES = (Phase.FORWARD, Phase.WEIGHT_GRAD, Phase.INPUT_GRAD)


class ModelError(ValueError):
    """A description that cannot be built (the message names the network and the layer)."""


def elem_bytes(dtype: str) -> int:
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPE_BYTES)}")
    return DTYPE_BYTES[dtype]


@dataclass(frozen=True)
class Layer:
    """One node of the graph. `inputs` name the producers (INPUT = the network input)."""
    name: str
    kind: str
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)     # top, bottom, left, right
    weight_shape: tuple[int, ...] | None = None
    grad_inputs: tuple[bool, ...] = ()                    # which inputs receive a gradient
    accumulate: tuple[bool, ...] = ()                     # gradient added to an existing one

    @property
    def in_shape(self) -> Shape:
        return self.in_shapes[0]

    @property
    def trainable(self) -> bool:
        return self.weight_shape is not None

    @property
    def is_loss(self) -> bool:
        return self.kind in LOSSES

    @property
    def needs_input_grad(self) -> bool:
        return any(self.grad_inputs)

    @property
    def phases(self) -> tuple[Phase, ...]:
        """The phases this layer runs in a training step (UPDATE last)."""
        out = [Phase.FORWARD]
        if self.trainable:
            out.append(Phase.WEIGHT_GRAD)
        if self.needs_input_grad:
            out.append(Phase.INPUT_GRAD)
        if self.trainable:
            out.append(Phase.UPDATE)
        return tuple(out)

    @property
    def params(self) -> int:
        return math.prod(self.weight_shape) if self.weight_shape else 0

    @property
    def forward_macs(self) -> int:
        c, h, w = self.in_shape
        co, ho, wo = self.out_shape
        kh, kw = self.kernel
        if self.kind == "Conv2D":
            return co * ho * wo * c * kh * kw
        if self.kind == "PointWise":
            return co * ho * wo * c
        if self.kind == "DepthWise":
            return co * ho * wo * kh * kw
        if self.kind == "Linear":
            return co * c * h * w
        return 0

    def macs(self, phase: Phase) -> int:
        """MACs of one phase (0 when the layer does not run it; see the module docstring)."""
        if phase not in self.phases or phase is Phase.UPDATE:
            return 0
        return self.forward_macs

    def param_bytes(self, dtype: str) -> int:
        return self.params * elem_bytes(dtype)

    def activation_bytes(self, dtype: str) -> int:
        """Bytes of this layer's output tensor."""
        return math.prod(self.out_shape) * elem_bytes(dtype)

    def conv_geom_args(self) -> tuple[int, ...]:
        """(C, H, W, Kh, Kw, Sh, Sw, Pt, Pb, Pl, Pr) of a conv-like layer, in the field order of the
        kernel library's ConvGeom."""
        return (*self.in_shape, *self.kernel, *self.stride, *self.padding)


@dataclass(frozen=True)
class Network:
    """A built network: `layers` in execution order, the loss node last."""
    name: str
    input_shape: Shape
    input_requires_grad: bool
    layers: tuple[Layer, ...]
    description: dict[str, Any] = field(compare=False, repr=False)

    @property
    def loss(self) -> Layer:
        return self.layers[-1]

    @property
    def output(self) -> Layer:
        """The layer whose output the loss reads (the logits)."""
        return self.layer(self.loss.inputs[0])

    def layer(self, name: str) -> Layer:
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise KeyError(f"{self.name}: no layer {name!r}")

    def shape_of(self, name: str) -> Shape:
        return self.input_shape if name == INPUT else self.layer(name).out_shape

    def consumers(self, name: str) -> tuple[str, ...]:
        return tuple(lay.name for lay in self.layers if name in lay.inputs)

    @property
    def trainable(self) -> tuple[Layer, ...]:
        return tuple(lay for lay in self.layers if lay.trainable)

    def schedule(self) -> list[tuple[Layer, Phase]]:
        """The training step in order: every forward (the loss last), then backward in reverse
        (per layer WEIGHT_GRAD before INPUT_GRAD; the loss's INPUT_GRAD first), then the SGD
        UPDATE of every trainable layer (after the backward pass, which still needs the old
        weights for input gradients)."""
        steps = [(lay, Phase.FORWARD) for lay in self.layers]
        for lay in reversed(self.layers):
            steps += [(lay, p) for p in (Phase.WEIGHT_GRAD, Phase.INPUT_GRAD) if p in lay.phases]
        steps += [(lay, Phase.UPDATE) for lay in self.trainable]
        return steps

    def macs(self, phase: Phase | None = None) -> int:
        """MACs of one phase over all layers, or of the whole training step (phase None)."""
        phases = MAC_PHASES if phase is None else (phase,)
        return sum(lay.macs(p) for lay in self.layers for p in phases)

    def mac_table(self) -> dict[str, dict[Phase, int]]:
        return {lay.name: {p: lay.macs(p) for p in MAC_PHASES} for lay in self.layers}

    def param_count(self) -> int:
        return sum(lay.params for lay in self.layers)

    def param_bytes(self, dtype: str) -> int:
        return self.param_count() * elem_bytes(dtype)

    def activation_bytes(self, dtype: str) -> int:
        """The input plus every layer output (what the backward pass keeps), the loss excluded."""
        return (math.prod(self.input_shape) * elem_bytes(dtype)
                + sum(lay.activation_bytes(dtype) for lay in self.layers if not lay.is_loss))

    def summary(self) -> str:
        """A text table of layers, shapes, parameters and MACs per phase."""
        rows = [(f"{self.name}: input {fmt_shape(self.input_shape)}, {self.param_count():,} parameters "
                 f"({self.param_bytes('fp32'):,} B fp32), activations {self.activation_bytes('fp32'):,} B fp32"),
                (f"{'layer':<16} {'type':<12} {'output':<10} {'params':>8} {'FW MACs':>11} "
                 f"{'WG MACs':>11} {'IG MACs':>11}")]
        for lay in self.layers:
            m = [lay.macs(p) for p in MAC_PHASES]
            rows.append(f"{lay.name:<16} {lay.kind:<12} {fmt_shape(lay.out_shape):<10} {lay.params:>8,} "
                        f"{m[0]:>11,} {m[1]:>11,} {m[2]:>11,}")
        rows.append(f"{'total':<16} {'':<12} {'':<10} {self.param_count():>8,} "
                    + " ".join(f"{self.macs(p):>11,}" for p in MAC_PHASES)
                    + f"   step {self.macs():,} MACs")
        return "\n".join(rows)


def fmt_shape(s: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in s)


# ------------------------------------------------------------------------------------------------
# Building
# ------------------------------------------------------------------------------------------------

# Elements of the largest tensor any cluster can hold: 16 MiB of L2 (the largest l2.size_kib) in FP16.
MAX_TENSOR_ELEMENTS = 16 * 1024 * 1024 // 2


def _check_size(what: str, shape: tuple[int, ...]) -> None:
    """ValueError for a tensor larger than the largest L2 a configuration can have (16 MiB, FP16): it
    fits no cluster, and is refused here, before any planning or allocation."""
    elements = 1
    for v in shape:
        elements *= v
    if elements > MAX_TENSOR_ELEMENTS:
        raise ValueError(f"{what} {'x'.join(map(str, shape))} = {elements:,} elements, more than any "
                         f"cluster memory holds (at most {MAX_TENSOR_ELEMENTS:,})")


def build(desc: dict[str, Any] | str) -> Network:
    """Check a description (or the name of a built-in network) and build its graph."""
    if isinstance(desc, str):
        desc = networks.get(desc)
    if not isinstance(desc, dict):
        raise ModelError(f"a network description is a JSON object with input, layers and loss, not a "
                         f"{type(desc).__name__}")
    return _Builder(desc).build()


def _pair(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    raise ValueError(f"{what} must be an int or [h, w], not {value!r}")


def same_padding(size: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow 'same': out = ceil(size/s); the smaller half of the total padding first."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def resolve_padding(value: Any, h: int, w: int, kernel: tuple[int, int],
                    stride: tuple[int, int]) -> tuple[int, int, int, int]:
    """Padding (top, bottom, left, right) from a description value (see workloads.networks)."""
    if value == "valid":
        return 0, 0, 0, 0
    if value == "same":
        return (*same_padding(h, kernel[0], stride[0]), *same_padding(w, kernel[1], stride[1]))
    if isinstance(value, int) and not isinstance(value, bool):
        pads: tuple[int, ...] = (value,) * 4
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        pads = (value[0], value[0], value[1], value[1])
    elif isinstance(value, (list, tuple)) and len(value) == 4:
        pads = tuple(value)
    else:
        raise ValueError(f"padding must be 'same', 'valid', an int, [ph, pw] or [t, b, l, r], not {value!r}")
    if not all(isinstance(p, int) and p >= 0 for p in pads):
        raise ValueError(f"padding values must be non-negative ints, not {value!r}")
    return pads[0], pads[1], pads[2], pads[3]


class _Builder:
    def __init__(self, desc: dict[str, Any]) -> None:
        self.desc = desc
        self.net = str(desc.get("name", "network"))
        self.shapes: dict[str, Shape] = {}
        self.layers: list[Layer] = []

    def fail(self, where: str, msg: str) -> ModelError:
        return ModelError(f"{self.net}: {where}: {msg}")

    def build(self) -> Network:
        d = self.desc
        for key in ("input", "layers", "loss"):
            if key not in d:
                raise self.fail("description", f"missing key {key!r}")
        extra = set(d) - {"name", "input", "input_requires_grad", "layers", "loss", "notes"}
        if extra:
            raise self.fail("description", f"unknown keys {sorted(extra)}")
        inp = d["input"]
        if not (isinstance(inp, (list, tuple)) and len(inp) == 3
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in inp)):
            raise self.fail("input", f"must be [C, H, W] of positive ints, not {inp!r}")
        try:
            _check_size("input", tuple(inp))
        except ValueError as exc:
            raise self.fail("input", str(exc)) from None
        self.shapes[INPUT] = (inp[0], inp[1], inp[2])
        if not isinstance(d["layers"], list):
            raise self.fail("layers", f"must be a list of layer objects, not {type(d['layers']).__name__}")
        if not d["layers"]:
            raise self.fail("description", "no layers")
        prev = INPUT
        for spec in d["layers"]:
            prev = self.add_spec(spec, prev)
        used = {i for lay in self.layers for i in lay.inputs} | {prev}
        for lay in self.layers:
            if lay.name not in used:
                raise self.fail(f"layer {lay.name!r} ({lay.kind})", "its output is never used")
        self.add_loss(d["loss"], prev)
        layers = self.gradients(bool(d.get("input_requires_grad", False)))
        return Network(self.net, self.shapes[INPUT], bool(d.get("input_requires_grad", False)),
                       tuple(layers), d)

    def add_spec(self, spec: dict[str, Any], prev: str) -> str:
        name = spec.get("name") if isinstance(spec, dict) else None
        if not isinstance(name, str) or not name:
            raise self.fail(f"layer after {prev!r}", "every layer needs a non-empty string 'name'")
        where = f"layer {name!r}"
        kind = spec.get("type")
        if kind not in _KEYS:
            raise self.fail(where, f"unknown type {kind!r}; known: {', '.join(_KEYS)}")
        where = f"layer {name!r} ({kind})"
        extra = set(spec) - _KEYS[kind] - {"name", "type", "input"}
        if extra:
            raise self.fail(where, f"unknown keys {sorted(extra)}")
        missing = _REQUIRED.get(kind, set()) - set(spec)
        if missing:
            raise self.fail(where, f"missing keys {sorted(missing)}")
        src = spec.get("input", prev)
        inputs = [src]
        if kind == "Add":
            skip = spec["skip"]
            if "shortcut" in spec:
                sc = spec["shortcut"]
                if not isinstance(sc, dict) or "out_channels" not in sc:
                    raise self.fail(where, "shortcut must be a dict with out_channels")
                bad = set(sc) - {"out_channels", "kernel", "stride", "padding"}
                if bad:
                    raise self.fail(where, f"unknown shortcut keys {sorted(bad)}")
                sc_name = f"{name}_shortcut"
                self.add_spec({"name": sc_name, "type": "Conv2D", "input": skip,
                               "kernel": sc.get("kernel", 1), **{k: v for k, v in sc.items() if k != "kernel"}},
                              prev)
                skip = sc_name
            inputs.append(skip)
        try:
            self.add_layer(name, kind, inputs, spec)
        except (ValueError, TypeError) as e:
            if isinstance(e, ModelError):
                raise
            raise self.fail(where, str(e)) from None
        return name

    def add_layer(self, name: str, kind: str, inputs: list[str], spec: dict[str, Any]) -> None:
        if name in self.shapes:
            raise ValueError(f"duplicate layer name {name!r}" if name != INPUT else "the name 'input' is reserved")
        for i in inputs:
            if i not in self.shapes:
                raise ValueError(f"input {i!r} is not the network input or an earlier layer")
        in_shapes = tuple(self.shapes[i] for i in inputs)
        c, h, w = in_shapes[0]
        kernel, stride, pad = (1, 1), (1, 1), (0, 0, 0, 0)
        wshape: tuple[int, ...] | None = None
        if kind in ("Conv2D", "DepthWise", "PointWise"):
            co = c if kind == "DepthWise" else _positive(spec["out_channels"], "out_channels")
            if kind != "PointWise":
                kernel = _pair(spec["kernel"], "kernel")
                stride = _pair(spec.get("stride", 1), "stride")
                if min(*kernel, *stride) < 1:
                    raise ValueError(f"kernel {kernel} and stride {stride} must be >= 1")
                pad = resolve_padding(spec.get("padding", "valid"), h, w, kernel, stride)
            ho, wo = _conv_out(h, w, kernel, stride, pad)
            out: Shape = (co, ho, wo)
            wshape = {"Conv2D": (co, c, *kernel), "PointWise": (co, c), "DepthWise": (c, *kernel)}[kind]
        elif kind == "Linear":
            fo = _positive(spec["out_features"], "out_features")
            out, wshape = (fo, 1, 1), (fo, c * h * w)
        elif kind == "ReLU":
            out = (c, h, w)
        elif kind in ("AvgPool", "MaxPool"):
            if spec.get("global"):
                if "kernel" in spec or "stride" in spec:
                    raise ValueError("a global pool takes no kernel or stride")
                kernel = (h, w)
            elif "kernel" not in spec:
                raise ValueError("needs 'kernel' or 'global': true")
            else:
                kernel = _pair(spec["kernel"], "kernel")
            stride = _pair(spec.get("stride", list(kernel)), "stride")
            if min(*kernel, *stride) < 1:
                raise ValueError(f"kernel {kernel} and stride {stride} must be >= 1")
            ho, wo = _conv_out(h, w, kernel, stride, pad)
            out = (c, ho, wo)
        elif kind == "Add":
            if in_shapes[0] != in_shapes[1]:
                raise ValueError(f"operands {inputs[0]!r} {fmt_shape(in_shapes[0])} and {inputs[1]!r} "
                                 f"{fmt_shape(in_shapes[1])} differ in shape")
            out = (c, h, w)
        else:                                   # pragma: no cover - _KEYS guards the kinds
            raise ValueError(f"unknown type {kind}")
        _check_size("output", out)
        if wshape:
            _check_size("weights", wshape)
        self.shapes[name] = out
        self.layers.append(Layer(name, kind, tuple(inputs), in_shapes, out, kernel, stride, pad, wshape))

    def add_loss(self, spec: Any, prev: str) -> None:
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind not in LOSSES:
            raise self.fail("loss", f"type must be one of {', '.join(LOSSES)}, not {kind!r}")
        if set(spec) - {"type"}:
            raise self.fail("loss", f"unknown keys {sorted(set(spec) - {'type'})}")
        c, h, w = self.shapes[prev]
        if kind == "CrossEntropy" and (h, w) != (1, 1):
            raise self.fail("loss", f"CrossEntropy needs a vector of logits, {prev!r} outputs {c}x{h}x{w}")
        self.layers.append(Layer("loss", kind, (prev,), (self.shapes[prev],), (1, 1, 1)))

    def gradients(self, input_grad: bool) -> list[Layer]:
        """Fill grad_inputs (an input gets a gradient when something upstream is trainable) and
        accumulate (backward visits layers in reverse; the second gradient of a tensor adds)."""
        requires = {INPUT: input_grad}
        staged = []
        for lay in self.layers:
            g = tuple(requires[i] for i in lay.inputs)
            requires[lay.name] = lay.trainable or any(g)
            staged.append((lay, g))
        written: set[str] = set()
        acc_of: dict[str, tuple[bool, ...]] = {}
        for lay, g in reversed(staged):
            acc = []
            for i, needs in zip(lay.inputs, g):
                acc.append(needs and i in written)
                if needs:
                    written.add(i)
            acc_of[lay.name] = tuple(acc)
        return [replace(lay, grad_inputs=g, accumulate=acc_of[lay.name]) for lay, g in staged]


def _positive(v: Any, what: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{what} must be a positive int, not {v!r}")
    return v


def _conv_out(h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int],
              pad: tuple[int, int, int, int]) -> tuple[int, int]:
    hp, wp = h + pad[0] + pad[1], w + pad[2] + pad[3]
    if kernel[0] > hp or kernel[1] > wp:
        raise ValueError(f"kernel {kernel[0]}x{kernel[1]} larger than the padded input {hp}x{wp} "
                         f"(input {h}x{w}, padding {pad})")
    return (hp - kernel[0]) // stride[0] + 1, (wp - kernel[1]) // stride[1] + 1


def ranges(extent: int, t: int) -> list[tuple[int, int]]:
    """T near-equal contiguous ranges covering [0, extent) (the first ones one unit larger); t is
    clamped to 1..extent. The tilings of the planner and of the step compiler both split this way."""
    t = max(1, min(t, extent))
    q, r = divmod(extent, t)
    out, lo = [], 0
    for i in range(t):
        hi = lo + q + (1 if i < r else 0)
        out.append((lo, hi))
        lo = hi
    return out
