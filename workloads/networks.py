"""Network descriptions as data: plain dicts (JSON-compatible), one per network.

Format (`model.build` checks it and names the layer of any mistake):

    {"name": "resnet8",
     "input": [C, H, W],                        # CHW, batch size 1
     "input_requires_grad": false,              # optional: also compute dL/dx for the first layer(s)
     "layers": [ {layer}, ... ],                # execution order
     "loss": {"type": "CrossEntropy"} | {"type": "MSE"},
     "notes": "free text"}                      # optional

Every layer has "name" (unique; "input" is reserved for the network input) and "type"; "input"
(optional) names the producing layer, default the previous layer. Per type:

| type      | keys (defaults)                                                                 |
|-----------|---------------------------------------------------------------------------------|
| Conv2D    | out_channels, kernel (int or [kh, kw]), stride (1), padding ("valid")           |
| PointWise | out_channels (1x1 kernel, stride 1, no padding)                                 |
| DepthWise | kernel, stride (1), padding ("valid"); depth multiplier 1                       |
| Linear    | out_features; flattens its CHW input; output shape [out_features, 1, 1]         |
| ReLU      | -                                                                               |
| AvgPool   | kernel + stride (= kernel), or "global": true (window = the whole input)        |
| MaxPool   | kernel, stride (= kernel)                                                       |
| Add       | skip (name of the second operand); optional shortcut {out_channels, kernel (1), |
|           | stride (1), padding ("valid")}: a Conv2D applied to the skip operand first,     |
|           | named "<add name>_shortcut" (inserted just before the Add)                      |

padding: "valid" (0), "same" (TensorFlow/Keras rule: out = ceil(in / stride), total padding
max((out-1)*stride + k - in, 0), the smaller half on top/left), an int (all sides), [ph, pw], or
[top, bottom, left, right].

Convolutions and Linear layers have no bias, and there is no batch normalisation: for
on-device training with batch size 1 BN is folded into the convolutions or left out (the study's
PULP-TrainLib primitives are bias-free convolutions / matmuls), and biases add no MACs worth
profiling. Dropout is an inference-time identity and is left out too.

`NETWORKS` maps the built-in names to functions returning a description; single-layer networks
take their shape as arguments. Descriptions can also be stored as JSON files (`load_json`).
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

Description = dict[str, Any]


def resnet8() -> Description:
    """MLPerf Tiny image classification ResNet8 (mlcommons/tiny benchmark/training/
    image_classification/keras_model.py, resnet_v1_eembc with 16 filters): 3x3 conv 16 + ReLU, three
    residual stacks (16, 32, 64 channels; stacks 2 and 3 start with a stride-2 3x3 conv and
    take a 1x1 stride-2 shortcut conv), global 8x8 average pool, 64 -> 10 Linear, softmax
    cross-entropy. Every conv uses Keras padding='same' (so the stride-2 3x3 convs pad 0 rows
    on top, 1 at the bottom). BatchNorm omitted (see the module docstring)."""
    layers: list[dict[str, Any]] = [
        {"name": "conv1", "type": "Conv2D", "out_channels": 16, "kernel": 3, "padding": "same"},
        {"name": "relu1", "type": "ReLU"},
    ]
    skip = "relu1"
    for stack, (ch, stride) in enumerate(((16, 1), (32, 2), (64, 2)), start=1):
        s = f"s{stack}"
        add: dict[str, Any] = {"name": f"{s}_add", "type": "Add", "skip": skip}
        if stride != 1:
            add["shortcut"] = {"out_channels": ch, "kernel": 1, "stride": stride, "padding": "same"}
        layers += [
            {"name": f"{s}_conv1", "type": "Conv2D", "input": skip, "out_channels": ch, "kernel": 3,
             "stride": stride, "padding": "same"},
            {"name": f"{s}_relu1", "type": "ReLU"},
            {"name": f"{s}_conv2", "type": "Conv2D", "out_channels": ch, "kernel": 3, "padding": "same"},
            add,
            {"name": f"{s}_relu2", "type": "ReLU"},
        ]
        skip = f"{s}_relu2"
    layers += [
        {"name": "pool", "type": "AvgPool", "global": True},
        {"name": "fc", "type": "Linear", "out_features": 10},
    ]
    return {"name": "resnet8", "input": [3, 32, 32], "layers": layers,
            "loss": {"type": "CrossEntropy"},
            "notes": "MLPerf Tiny IC ResNet8 (resnet_v1_eembc, 16 filters), no BN, no biases"}


def ds_cnn() -> Description:
    """MLPerf Tiny keyword spotting DS-CNN (mlcommons/tiny benchmark/training/keyword_spotting/
    keras_model.py, model 'ds_cnn'): 49x10x1 MFCC input; Conv2D 64, 10x4, stride 2, 'same' (pads
    4/5 rows, 1/1 columns -> 25x5) + ReLU; four blocks DepthWise 3x3 'same' + ReLU, PointWise 64
    + ReLU; AveragePooling2D(pool_size=(24, 5)) exactly as Keras (int(49/2) x int(10/2): the window
    covers rows 0..23 of the 25, so the last row gets no gradient); 64 -> 12 Linear; softmax
    cross-entropy. BatchNorm and Dropout omitted."""
    layers: list[dict[str, Any]] = [
        {"name": "conv1", "type": "Conv2D", "out_channels": 64, "kernel": [10, 4], "stride": 2,
         "padding": "same"},
        {"name": "relu1", "type": "ReLU"},
    ]
    for b in range(1, 5):
        layers += [
            {"name": f"dw{b}", "type": "DepthWise", "kernel": 3, "padding": "same"},
            {"name": f"dw{b}_relu", "type": "ReLU"},
            {"name": f"pw{b}", "type": "PointWise", "out_channels": 64},
            {"name": f"pw{b}_relu", "type": "ReLU"},
        ]
    layers += [
        {"name": "pool", "type": "AvgPool", "kernel": [24, 5]},
        {"name": "fc", "type": "Linear", "out_features": 12},
    ]
    return {"name": "dscnn", "input": [1, 49, 10], "layers": layers,
            "loss": {"type": "CrossEntropy"},
            "notes": "MLPerf Tiny KWS DS-CNN (64 filters), no BN, no biases, no dropout"}


def _single(name: str, input_shape: list[int], layer: dict[str, Any]) -> Description:
    # A lone layer is profiled as if it sat inside a network: its input gradient is computed too.
    return {"name": name, "input": input_shape, "input_requires_grad": True,
            "layers": [dict(layer, name=layer["type"].lower())], "loss": {"type": "MSE"}}


def single_conv2d(cin: int, h: int, w: int, cout: int, kernel: int | list[int] = 3,
                  stride: int | list[int] = 1, padding: Any = 0) -> Description:
    """One Conv2D (cin x h x w -> cout channels), MSE loss, input gradient included."""
    return _single(f"conv2d_{cin}x{h}x{w}_{cout}", [cin, h, w],
                   {"type": "Conv2D", "out_channels": cout, "kernel": kernel, "stride": stride,
                    "padding": padding})


def single_pointwise(cin: int, h: int, w: int, cout: int) -> Description:
    """One PointWise (1x1) conv, MSE loss, input gradient included."""
    return _single(f"pointwise_{cin}x{h}x{w}_{cout}", [cin, h, w],
                   {"type": "PointWise", "out_channels": cout})


def single_depthwise(c: int, h: int, w: int, kernel: int | list[int] = 3,
                     stride: int | list[int] = 1, padding: Any = 0) -> Description:
    """One DepthWise conv, MSE loss, input gradient included."""
    return _single(f"depthwise_{c}x{h}x{w}", [c, h, w],
                   {"type": "DepthWise", "kernel": kernel, "stride": stride, "padding": padding})


def single_linear(in_features: int, out_features: int) -> Description:
    """One Linear layer (input [in_features, 1, 1]), MSE loss, input gradient included."""
    return _single(f"linear_{in_features}_{out_features}", [in_features, 1, 1],
                   {"type": "Linear", "out_features": out_features})


NETWORKS: dict[str, Callable[..., Description]] = {
    "resnet8": resnet8,
    "dscnn": ds_cnn,
    "conv2d": single_conv2d,
    "pointwise": single_pointwise,
    "depthwise": single_depthwise,
    "linear": single_linear,
}


def get(name: str, **shape: Any) -> Description:
    """The description of a built-in network; single-layer ones take their shape as keywords."""
    key = name.lower().replace("-", "").replace("_", "")
    if key not in NETWORKS:
        raise KeyError(f"unknown network {name!r}; known: {', '.join(NETWORKS)}")
    return NETWORKS[key](**shape)


def load_json(path: str | Path) -> Description:
    """A description stored as a JSON file (same structure as the dicts above)."""
    return json.loads(Path(path).read_text())


def to_json(desc: Description) -> str:
    """The description as JSON text (round-trips through `load_json`)."""
    return json.dumps(copy.deepcopy(desc), indent=1)


def render_docs() -> str:
    """docs/NETWORKS.md: this module's format description, an example file and the built-in networks
    (`python -m mcusim.workloads.networks > docs/NETWORKS.md`; tests/test_docs.py checks it is current)."""
    import sys
    doc = (sys.modules[__name__].__doc__ or "").strip().split("\n")
    body = "\n".join(doc[2:]).replace("`load_json`", "`workloads.networks.load_json`")
    example = to_json(single_conv2d(8, 8, 8, 16, 3, 1, 0))
    def summary(fn: Callable[..., Description]) -> str:
        first = " ".join((fn.__doc__ or "").split("\n\n")[0].split())
        return first.split(" (")[0].rstrip(".") + "."
    builtin = "\n".join(f"- `{name}`: {summary(fn)}" for name, fn in NETWORKS.items())
    return (
        "# Network descriptions (`mcusim train FILE.json`)\n\n"
        "Generated by `python -m mcusim.workloads.networks`; do not edit (the text is workloads/networks.py's).\n\n"
        "A network is a JSON object; `mcusim train FILE.json` (and `--plan`) reads it, checks it and names the\n"
        "layer and key of any mistake (one line, exit status 2). Tensors larger than any cluster memory (16 MiB\n"
        "of L2 in FP16) are refused before planning.\n\n"
        "## " + body + "\n\n"
        "## Example: the study's tutorial Conv2D (`mcusim train layer` with its defaults)\n\n"
        "```json\n" + example + "\n```\n\n"
        "## Built-in networks (`mcusim train NAME`; the single-layer ones take the shape options)\n\n"
        + builtin + "\n")


if __name__ == "__main__":
    print(render_docs(), end="")
