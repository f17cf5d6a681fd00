"""A numpy training step of a `model.Network`: the numerical reference for the simulated step.

`train_step(net, params, x, target, lr, precision)` runs the forward pass of every layer, the
loss, the backward pass in reverse (weight gradient of every trainable layer, input gradient of
every layer that needs one; gradients of a tensor used twice are summed) and the SGD update
w -= lr * dW, and returns every intermediate tensor (`StepResult`), so a simulated step can be
compared layer by layer and phase by phase. The per-layer functions (`layer_forward`,
`layer_weight_grad`, `layer_input_grad`, `loss_forward`, `loss_grad`) are public for the same reason.

Precisions (the storage dtype of every tensor; each layer op -- forward, weight gradient, input
gradient, gradient sum, loss gradient, SGD update -- computes in float64 from the stored operands
and rounds its result to the storage dtype once, so results do not depend on BLAS summation
order or threading):
- "fp32": float32 tensors. The FP32 kernels accumulate in float32 in their own order; they
  agree with this within a relative error of about K * 2^-24 for a K-term sum.
- "fp64": float64 tensors, nothing rounded (finite-difference checks).
- "fp16": float16 tensors, every op's result rounded to float16. This approximates the hardware:
  FP16 kernels that accumulate in FP32 (vfdotpex) and round once per output agree up to the
  FP32 summation error; kernels that accumulate in FP16 (vfmac) round at every step and differ
  more. The loss value itself is not rounded.
- "bf16": bfloat16 values (held in float32 arrays, numpy has no bfloat16), every op's result
  rounded once to bfloat16 (round to nearest even from float64: the same emulation as the kernel
  checks, kernels_asm.dtypes). Same relation to the hardware as fp16, with 8 significant bits.

Conv2D, DepthWise and the pools are computed as im2col (layout [C*Kh*Kw, Ho*Wo], row = c, kh, kw,
the kernel library's `col` layout) followed by a matmul; input gradients use col2im, the adjoint of
im2col (scatter-add). `conv2d_direct` is an independent loop implementation for the tests.

Initialisation (`init_params`, deterministic from a seed; layer i draws from
numpy default_rng([seed, i])): convolutions (Conv2D, PointWise, DepthWise) He normal,
std = sqrt(2 / fan_in) with fan_in = Cin*Kh*Kw (DepthWise: Kh*Kw), as the Keras models use
(he_normal); Linear Glorot uniform, limit sqrt(6 / (in + out)) (Keras Dense default).
`random_input` draws x ~ N(0, 1); `random_target` a class label (CrossEntropy) or a N(0, 1)
target tensor (MSE).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcusim.kernels_asm.dtypes import DTYPES
from mcusim.workloads.model import INPUT, Layer, Network

Precision = str
_STORE = {"fp32": np.float32, "fp64": np.float64, "fp16": np.float16, "bf16": np.float32}
_COMPUTE = {"fp32": np.float64, "fp64": np.float64, "fp16": np.float64, "bf16": np.float64}


def _dtypes(precision: Precision) -> tuple[type, type]:
    if precision not in _STORE:
        raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(_STORE)}")
    return _STORE[precision], _COMPUTE[precision]


def _rnd(a: Any, precision: Precision) -> np.ndarray:
    """`a` rounded once to the precision's storage format (bf16: float32 arrays of bfloat16 values,
    rounded from float64 to nearest even, kernels_asm.dtypes)."""
    if precision == "bf16":
        return DTYPES["bf16"].round(np.asarray(a, np.float64))
    return np.asarray(a).astype(_STORE[precision])


# ------------------------------------------------------------------------------------------------
# Array operations (no rounding policy here: they compute in the dtype they are given)
# ------------------------------------------------------------------------------------------------

Pad = tuple[int, int, int, int]


def _out_hw(h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int], pad: Pad) -> tuple[int, int]:
    return ((h + pad[0] + pad[1] - kernel[0]) // stride[0] + 1,
            (w + pad[2] + pad[3] - kernel[1]) // stride[1] + 1)


def im2col(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], pad: Pad) -> np.ndarray:
    """Patches of x[C, H, W] as B[C*Kh*Kw, Ho*Wo] (row index c*Kh*Kw + kh*Kw + kw)."""
    c, h, w = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = _out_hw(h, w, kernel, stride, pad)
    xp = np.zeros((c, h + pad[0] + pad[1], w + pad[2] + pad[3]), x.dtype)
    xp[:, pad[0]:pad[0] + h, pad[2]:pad[2] + w] = x
    out = np.empty((c, kh, kw, ho, wo), x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, i, j] = xp[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
    return out.reshape(c * kh * kw, ho * wo)


def col2im(cols: np.ndarray, shape: tuple[int, int, int], kernel: tuple[int, int],
           stride: tuple[int, int], pad: Pad) -> np.ndarray:
    """The adjoint of im2col: scatter-add B[C*Kh*Kw, Ho*Wo] back into an [C, H, W] tensor."""
    c, h, w = shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = _out_hw(h, w, kernel, stride, pad)
    b = cols.reshape(c, kh, kw, ho, wo)
    xp = np.zeros((c, h + pad[0] + pad[1], w + pad[2] + pad[3]), cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xp[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw] += b[:, i, j]
    return xp[:, pad[0]:pad[0] + h, pad[2]:pad[2] + w]


def conv2d_direct(x: np.ndarray, w: np.ndarray, stride: tuple[int, int], pad: Pad) -> np.ndarray:
    """Direct convolution (loops over output pixels and taps): the independent check of im2col."""
    _, h, wi = x.shape
    co, _, kh, kw = w.shape
    ho, wo = _out_hw(h, wi, (kh, kw), stride, pad)
    y = np.zeros((co, ho, wo), np.result_type(x, w))
    for oh in range(ho):
        for ow in range(wo):
            for i in range(kh):
                for j in range(kw):
                    r, q = oh * stride[0] - pad[0] + i, ow * stride[1] - pad[2] + j
                    if 0 <= r < h and 0 <= q < wi:
                        y[:, oh, ow] += w[:, :, i, j] @ x[:, r, q]
    return y


def depthwise_direct(x: np.ndarray, w: np.ndarray, stride: tuple[int, int], pad: Pad) -> np.ndarray:
    """Direct depthwise convolution, w[C, Kh, Kw] (test reference)."""
    c = x.shape[0]
    return np.stack([conv2d_direct(x[k:k + 1], w[k][None, None], stride, pad)[0] for k in range(c)])


# ------------------------------------------------------------------------------------------------
# Layer ops in the compute dtype
# ------------------------------------------------------------------------------------------------

def _weights(lay: Layer, w: np.ndarray | None) -> np.ndarray:
    if w is None:
        raise ValueError(f"layer {lay.name!r}: weights missing")
    return w


def _fw(lay: Layer, xs: list[np.ndarray], wgt: np.ndarray | None) -> np.ndarray:
    x = xs[0]
    k, s, p = lay.kernel, lay.stride, lay.padding
    co, ho, wo = lay.out_shape
    w = _weights(lay, wgt) if lay.trainable else np.empty(0)
    if lay.kind == "Conv2D":
        return (w.reshape(co, -1) @ im2col(x, k, s, p)).reshape(co, ho, wo)
    if lay.kind == "DepthWise":
        cols = im2col(x, k, s, p).reshape(co, k[0] * k[1], ho * wo)
        return np.einsum("ck,ckp->cp", w.reshape(co, -1), cols).reshape(co, ho, wo)
    if lay.kind == "PointWise":
        return (w @ x.reshape(x.shape[0], -1)).reshape(co, ho, wo)
    if lay.kind == "Linear":
        return (w @ x.reshape(-1)).reshape(co, 1, 1)
    if lay.kind == "ReLU":
        return np.maximum(x, 0)
    if lay.kind in ("AvgPool", "MaxPool"):
        cols = im2col(x, k, s, p).reshape(co, k[0] * k[1], ho * wo)
        red = cols.mean(axis=1) if lay.kind == "AvgPool" else cols.max(axis=1)
        return red.reshape(co, ho, wo)
    if lay.kind == "Add":
        return xs[0] + xs[1]
    raise ValueError(f"layer {lay.name!r}: no forward for {lay.kind}")


def _wg(lay: Layer, xs: list[np.ndarray], dy: np.ndarray) -> np.ndarray:
    x = xs[0]
    k, s, p = lay.kernel, lay.stride, lay.padding
    co = lay.out_shape[0]
    d = dy.reshape(co, -1)
    if lay.kind == "Conv2D":
        return (d @ im2col(x, k, s, p).T).reshape(lay.weight_shape)
    if lay.kind == "DepthWise":
        cols = im2col(x, k, s, p).reshape(co, k[0] * k[1], -1)
        return np.einsum("cp,ckp->ck", d, cols).reshape(lay.weight_shape)
    if lay.kind == "PointWise":
        return d @ x.reshape(x.shape[0], -1).T
    if lay.kind == "Linear":
        return np.outer(d.reshape(-1), x.reshape(-1))
    raise ValueError(f"layer {lay.name!r}: {lay.kind} has no weights")


def _ig(lay: Layer, xs: list[np.ndarray], wgt: np.ndarray | None, dy: np.ndarray) -> list[np.ndarray]:
    x = xs[0]
    k, s, p = lay.kernel, lay.stride, lay.padding
    co = lay.out_shape[0]
    w = _weights(lay, wgt) if lay.trainable else np.empty(0)
    if lay.kind == "Conv2D":
        return [col2im(w.reshape(co, -1).T @ dy.reshape(co, -1), x.shape, k, s, p)]
    if lay.kind == "DepthWise":
        cols = np.einsum("ck,cp->ckp", w.reshape(co, -1), dy.reshape(co, -1))
        return [col2im(cols.reshape(co * k[0] * k[1], -1), x.shape, k, s, p)]
    if lay.kind == "PointWise":
        return [(w.T @ dy.reshape(co, -1)).reshape(x.shape)]
    if lay.kind == "Linear":
        return [(w.T @ dy.reshape(-1)).reshape(x.shape)]
    if lay.kind == "ReLU":
        return [dy * (x > 0)]
    if lay.kind in ("AvgPool", "MaxPool"):
        kk = k[0] * k[1]
        d = dy.reshape(co, 1, -1)
        if lay.kind == "AvgPool":
            cols = np.broadcast_to(d / kk, (co, kk, d.shape[2]))
        else:                                   # gradient to the first maximum of each window
            win = im2col(x, k, s, p).reshape(co, kk, -1)
            hot = np.arange(kk)[None, :, None] == win.argmax(axis=1)[:, None, :]
            cols = np.where(hot, d, 0).astype(dy.dtype)
        return [col2im(np.ascontiguousarray(cols).reshape(co * kk, -1), x.shape, k, s, p)]
    if lay.kind == "Add":
        return [dy, dy]
    raise ValueError(f"layer {lay.name!r}: no input gradient for {lay.kind}")


def _compute(a: np.ndarray | None, dt: type) -> np.ndarray | None:
    return None if a is None else np.asarray(a, dtype=dt)


def _all(arrays: Sequence[np.ndarray], dt: type) -> list[np.ndarray]:
    return [np.asarray(a, dtype=dt) for a in arrays]


def layer_forward(lay: Layer, inputs: Sequence[np.ndarray], w: np.ndarray | None,
                  precision: Precision = "fp32") -> np.ndarray:
    """Forward output of one layer, rounded to the precision's storage dtype."""
    _, ct = _dtypes(precision)
    return _rnd(_fw(lay, _all(inputs, ct), _compute(w, ct)), precision)


def layer_weight_grad(lay: Layer, inputs: Sequence[np.ndarray], dy: np.ndarray,
                      precision: Precision = "fp32") -> np.ndarray:
    """dL/dW of one trainable layer from its inputs and its output gradient."""
    _, ct = _dtypes(precision)
    return _rnd(_wg(lay, _all(inputs, ct), np.asarray(dy, ct)), precision)


def layer_input_grad(lay: Layer, inputs: Sequence[np.ndarray], w: np.ndarray | None, dy: np.ndarray,
                     precision: Precision = "fp32") -> list[np.ndarray]:
    """dL/d(input) for each input of one layer (Add: both operands), before any fan-out sum."""
    _, ct = _dtypes(precision)
    dxs = _ig(lay, _all(inputs, ct), _compute(w, ct), np.asarray(dy, ct))
    return [_rnd(d, precision) for d in dxs]


def loss_forward(lay: Layer, logits: np.ndarray, target: Any, precision: Precision = "fp32") -> float:
    """CrossEntropy: -log softmax(logits)[target]; MSE: mean((logits - target)^2)."""
    _, ct = _dtypes(precision)
    z: np.ndarray = np.asarray(logits, ct).reshape(-1)
    if lay.kind == "CrossEntropy":
        m = z.max()
        return float(m + np.log(np.exp(z - m).sum()) - z[int(target)])
    t: np.ndarray = np.asarray(target, ct).reshape(-1)
    return float(np.mean((z - t) ** 2))


def loss_grad(lay: Layer, logits: np.ndarray, target: Any, precision: Precision = "fp32") -> np.ndarray:
    """dL/dlogits: softmax - onehot (CrossEntropy) or 2 (y - t) / N (MSE)."""
    _, ct = _dtypes(precision)
    z: np.ndarray = np.asarray(logits, ct)
    flat = z.reshape(-1)
    if lay.kind == "CrossEntropy":
        e = np.exp(flat - flat.max())
        g = e / e.sum()
        g[int(target)] -= 1
    else:
        g = 2 * (flat - np.asarray(target, ct).reshape(-1)) / flat.size
    return _rnd(g.reshape(z.shape), precision)


def sgd_update(w: np.ndarray, g: np.ndarray, lr: float, precision: Precision = "fp32") -> np.ndarray:
    """w - lr * g, rounded once to the storage dtype."""
    _, ct = _dtypes(precision)
    return _rnd(np.asarray(w, ct) - ct(lr) * np.asarray(g, ct), precision)


# ------------------------------------------------------------------------------------------------
# Initialisation, data, the training step
# ------------------------------------------------------------------------------------------------

def _weights_shape(lay: Layer) -> tuple[int, ...]:
    if lay.weight_shape is None:
        raise ValueError(f"layer {lay.name!r} has no weights")
    return lay.weight_shape


def init_params(net: Network, seed: int = 0, precision: Precision = "fp32") -> dict[str, np.ndarray]:
    """Weights of every trainable layer (see the module docstring for the distributions)."""
    _dtypes(precision)
    params: dict[str, np.ndarray] = {}
    for i, lay in enumerate(net.layers):
        if not lay.trainable:
            continue
        rng = np.random.default_rng([seed, i])
        shape = _weights_shape(lay)
        if lay.kind == "Linear":
            limit = np.sqrt(6.0 / (shape[0] + shape[1]))
            w = rng.uniform(-limit, limit, shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            w = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        params[lay.name] = _rnd(w, precision)
    return params


def random_input(net: Network, seed: int = 0, precision: Precision = "fp32") -> np.ndarray:
    """x ~ N(0, 1) of the network's input shape."""
    _dtypes(precision)
    return _rnd(np.random.default_rng([seed, 1 << 20]).standard_normal(net.input_shape), precision)


def random_target(net: Network, seed: int = 0, precision: Precision = "fp32") -> Any:
    """A class label in [0, classes) for CrossEntropy, a N(0, 1) tensor for MSE."""
    _dtypes(precision)
    rng = np.random.default_rng([seed, 1 << 21])
    out = net.output.out_shape
    if net.loss.kind == "CrossEntropy":
        return int(rng.integers(out[0]))
    return _rnd(rng.standard_normal(out), precision)


@dataclass
class StepResult:
    """Everything one training step computed."""
    loss: float
    outputs: dict[str, np.ndarray]        # forward output of every layer, and INPUT -> x
    grads: dict[str, np.ndarray]          # dL/d(output) of every tensor that got one (INPUT too when asked)
    input_grads: dict[str, list[np.ndarray | None]]   # per layer, its input gradients before fan-out sums
    weight_grads: dict[str, np.ndarray]   # dL/dW per trainable layer
    params: dict[str, np.ndarray]         # weights after the SGD update


def forward(net: Network, params: dict[str, np.ndarray], x: np.ndarray,
            precision: Precision = "fp32") -> dict[str, np.ndarray]:
    """Forward outputs of every layer (the loss excluded); INPUT -> x in the storage dtype."""
    _dtypes(precision)
    acts: dict[str, np.ndarray] = {INPUT: _rnd(x, precision)}
    for lay in net.layers[:-1]:
        acts[lay.name] = layer_forward(lay, [acts[i] for i in lay.inputs], params.get(lay.name), precision)
    return acts


def loss_of(net: Network, params: dict[str, np.ndarray], x: np.ndarray, target: Any,
            precision: Precision = "fp64") -> float:
    """The loss of one forward pass (finite differences use it)."""
    acts = forward(net, params, x, precision)
    return loss_forward(net.loss, acts[net.output.name], target, precision)


def train_step(net: Network, params: dict[str, np.ndarray], x: np.ndarray, target: Any,
               lr: float = 0.01, precision: Precision = "fp32") -> StepResult:
    """One SGD training step on one sample (see the module docstring). `params` is not modified."""
    _, ct = _dtypes(precision)
    params = {k: _rnd(v, precision) for k, v in params.items()}
    acts = forward(net, params, x, precision)
    logits = acts[net.output.name]
    loss = loss_forward(net.loss, logits, target, precision)
    grads = {net.output.name: loss_grad(net.loss, logits, target, precision)}
    wgrads: dict[str, np.ndarray] = {}
    igrads: dict[str, list[np.ndarray | None]] = {}
    for lay in reversed(net.layers[:-1]):
        if lay.name not in grads:               # nothing upstream needs this layer's gradient
            continue
        dy = grads[lay.name]
        xs = [acts[i] for i in lay.inputs]
        w = params.get(lay.name)
        if lay.trainable:
            wgrads[lay.name] = layer_weight_grad(lay, xs, dy, precision)
        if not lay.needs_input_grad:
            continue
        dxs = layer_input_grad(lay, xs, w, dy, precision)
        igrads[lay.name] = [d if need else None for d, need in zip(dxs, lay.grad_inputs)]
        for src, need, acc, dx in zip(lay.inputs, lay.grad_inputs, lay.accumulate, dxs):
            if not need:
                continue
            # the model's accumulate flags must describe exactly what happens here
            assert (src in grads) == acc, f"{lay.name}: accumulate flag of {src} disagrees"
            grads[src] = _rnd(np.asarray(grads[src], ct) + np.asarray(dx, ct), precision) if acc else dx
    new = {name: sgd_update(params[name], g, lr, precision) for name, g in wgrads.items()}
    return StepResult(loss, acts, grads, igrads, wgrads, new)
