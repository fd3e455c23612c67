"""The explicit loop of the ONNX export: a recurrent layer ONNX's LSTM, GRU and RNN operators do
not compute as lstmkit does, written as an ONNX `Scan` whose body is the reference cell's step
(lstmkit/cells/): masks with Keras's rule (a masked step keeps the states and repeats the previous
output, or gives zeros with `zero_output_for_mask`), layer norm, peepholes, cell clipping,
zoneout's inference-time mixing, and every activation of lstmkit's registry; and the
convolutional LSTM, whose step convolves its frame and its state (`scan_conv_lstm`).

The input term of every step is one product before the loop, x W (+ b) (layer norm: LN(x W) gx
+ b), the Scan's scan input beside the mask; the body carries the states, the previous output,
and the weights it reads (U and the variant's vectors, passed through unchanged), and emits each
step's output.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any, Iterator

from onnx import GraphProto, TensorProto
from onnx import helper as oh

_SELU = (1.6732632423543772, 1.0507009873554805)  # Keras's alpha, scale

LOOP_CELLS = ("lstm", "gru", "simple_rnn", "conv_lstm")


class _Body:
    """Nodes of a Scan body, each output named uniquely."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self._names = itertools.count()

    def op(self, kind: str, *inputs: str, **attributes: Any) -> str:
        out = f"{kind.lower()}_{next(self._names)}"
        self.nodes.append(oh.make_node(kind, list(inputs), [out], **attributes))
        return out

    def ops(self, kind: str, inputs: list[str], count: int, **attributes: Any) -> list[str]:
        outs = [f"{kind.lower()}_{next(self._names)}" for _ in range(count)]
        self.nodes.append(oh.make_node(kind, inputs, outs, **attributes))
        return outs

    def number(self, value: float) -> str:
        return self.op("Constant", value=oh.make_tensor("c", TensorProto.FLOAT, [], [value]))

    def activation(self, name: str, z: str) -> str:
        """lstmkit's activation `name` of z, as ONNX operators."""
        simple = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu", "softsign": "Softsign", "softplus": "Softplus",
                  "exponential": "Exp", "linear": "Identity"}
        if name in simple:
            return self.op(simple[name], z)
        if name == "hard_sigmoid":
            return self.op("HardSigmoid", z, alpha=1.0 / 6.0, beta=0.5)
        if name == "leaky_relu":
            return self.op("LeakyRelu", z, alpha=0.2)
        if name == "elu":
            return self.op("Elu", z, alpha=1.0)
        if name == "selu":
            return self.op("Selu", z, alpha=_SELU[0], gamma=_SELU[1])
        if name in ("softmax", "log_softmax"):
            return self.op("Softmax" if name == "softmax" else "LogSoftmax", z, axis=-1)
        if name == "relu6":
            return self.op("Clip", z, self.number(0.0), self.number(6.0))
        if name == "hard_tanh":
            return self.op("Clip", z, self.number(-1.0), self.number(1.0))
        if name == "silu":
            return self.op("Mul", z, self.op("Sigmoid", z))
        if name == "hard_silu":
            return self.op("Mul", z, self.op("HardSigmoid", z, alpha=1.0 / 6.0, beta=0.5))
        if name == "gelu":  # Keras's exact form, 0.5 x (1 + erf(x / √2))
            erf = self.op("Erf", self.op("Mul", z, self.number(0.7071067811865476)))
            return self.op("Mul", self.op("Mul", z, self.number(0.5)), self.op("Add", erf, self.number(1.0)))
        if name == "mish":
            return self.op("Mul", z, self.op("Tanh", self.op("Softplus", z)))
        if name == "log_sigmoid":
            return self.op("Neg", self.op("Softplus", self.op("Neg", z)))
        if name == "tanh_shrink":
            return self.op("Sub", z, self.op("Tanh", z))
        raise ValueError(f"no ONNX form of the activation {name!r}")


def _float(name: str) -> Any:
    return oh.make_tensor_value_info(name, TensorProto.FLOAT, None)


def _step_graph(body: _Body, name: str, inputs: list[Any], new: list[str], states: list[str], carried: list[str],
                options: dict[str, Any], keep: str | None) -> GraphProto:
    """The Scan body from the step's new states (new[0] the step's h): with a mask (`keep`, the
    step's mask shaped to broadcast over a state), Keras's rule (a masked step keeps the states
    and repeats the previous output `o`, or gives zeros with zero_output); its outputs the states,
    the output carried as `o`, the carried weights unchanged, and the output as the scan output."""
    out = new[0]
    if keep is not None:
        previous = body.op("Mul", "o", body.number(0.0)) if options.get("zero_output") else "o"
        out = body.op("Where", keep, new[0], previous)
        new = [body.op("Where", keep, n, s) for n, s in zip(new, states)]
    outputs = [body.op("Identity", n) for n in new] + [body.op("Identity", out)] \
        + [body.op("Identity", w) for w in carried] + [body.op("Identity", out)]
    return oh.make_graph(body.nodes, name, inputs, [_float(n) for n in outputs])


def scan_sequence(op: Any, cell: str, given: dict[str, Any], options: dict[str, Any], units: int,
                  activation_name: Any) -> list[Any]:
    """The layer as a Scan over the steps: [out, h(, c)] as the kernels return them.
    `activation_name(key)`: lstmkit's name of the activation option `key` ("act", "ract")."""
    x, W, b = given["x"], given["W"], given.get("b")
    norm = cell == "lstm" and bool(options.get("layer_norm"))
    eps = float(options.get("eps", 1e-3))
    zx = op.MatMul(x, W)  # (T, B, G·H): every step's input term at once
    if norm:
        zx = op.LayerNormalization(zx, given["gx"], axis=-1, epsilon=eps)[0]  # (Y, and the optional mean, 1/σ)
    if b is not None:
        zx = op.Add(zx, b)
    peephole = cell == "lstm" and bool(options.get("peephole"))
    carried_weights = ["U"] + (["b_r"] if "b_r" in given else []) + (["peep"] if peephole else []) \
        + (["gh", "gc", "bc"] if norm else [])
    states = ["h", "c"] if cell == "lstm" else ["h"]
    masked = "mask" in given
    body = _Body()
    inputs = [_float(s) for s in states] + [_float("o")] + [_float(w) for w in carried_weights] + [_float("z_t")]
    if masked:
        inputs.append(oh.make_tensor_value_info("m_t", TensorProto.BOOL, None))
    act: str = activation_name("act")
    ract: str = activation_name("ract") if "ract" in options else act  # (SimpleRNN has none)
    h = "h"
    if cell == "lstm":
        hu = body.op("MatMul", h, "U")
        if norm:
            hu = body.op("LayerNormalization", hu, "gh", axis=-1, epsilon=eps)
        zi, zf, zc, zo = body.ops("Split", [body.op("Add", "z_t", hu)], 4, axis=-1, num_outputs=4)
        if peephole:
            p_i, p_f, p_o = body.ops("Split", ["peep"], 3, axis=0, num_outputs=3)
            zi = body.op("Add", zi, body.op("Mul", p_i, "c"))
            zf = body.op("Add", zf, body.op("Mul", p_f, "c"))
        i, f = body.activation(ract, zi), body.activation(ract, zf)
        cn = body.op("Add", body.op("Mul", f, "c"), body.op("Mul", i, body.activation(act, zc)))
        if options.get("clip"):
            bound = float(options["cell_clip"])
            cn = body.op("Clip", cn, body.number(-bound), body.number(bound))
        if peephole:
            zo = body.op("Add", zo, body.op("Mul", p_o, cn))
        og = body.activation(ract, zo)
        c_out = body.op("LayerNormalization", cn, "gc", "bc", axis=-1, epsilon=eps) if norm else cn
        hn = body.op("Mul", og, body.activation(act, c_out))
        p = float(options.get("zoneout", 0.0))
        if p > 0:  # the expectation of zoneout's draws, as at inference
            hn = body.op("Add", body.op("Mul", h, body.number(p)), body.op("Mul", hn, body.number(1.0 - p)))
            cn = body.op("Add", body.op("Mul", "c", body.number(p)), body.op("Mul", cn, body.number(1.0 - p)))
        new = [hn, cn]
    elif cell == "gru":
        x_z, x_r, x_h = body.ops("Split", ["z_t"], 3, axis=-1, num_outputs=3)
        if options.get("reset_after"):
            hu = body.op("MatMul", h, "U")
            if "b_r" in given:
                hu = body.op("Add", hu, "b_r")
            h_z, h_r, h_h = body.ops("Split", [hu], 3, axis=-1, num_outputs=3)
            z = body.activation(ract, body.op("Add", x_z, h_z))
            r = body.activation(ract, body.op("Add", x_r, h_r))
            g = body.activation(act, body.op("Add", x_h, body.op("Mul", r, h_h)))
        else:
            u_zr, u_h = body.ops("Split", ["U", body.op("Constant", value_ints=[2 * units, units])], 2, axis=-1)
            h_z, h_r = body.ops("Split", [body.op("MatMul", h, u_zr)], 2, axis=-1, num_outputs=2)
            z = body.activation(ract, body.op("Add", x_z, h_z))
            r = body.activation(ract, body.op("Add", x_r, h_r))
            g = body.activation(act, body.op("Add", x_h, body.op("MatMul", body.op("Mul", r, h), u_h)))
        one_minus_z = body.op("Sub", body.number(1.0), z)
        new = [body.op("Add", body.op("Mul", z, h), body.op("Mul", one_minus_z, g))]
    else:
        new = [body.activation(act, body.op("Add", "z_t", body.op("MatMul", h, "U")))]
    keep = body.op("Unsqueeze", "m_t", body.op("Constant", value_ints=[1])) if masked else None  # (B, 1)
    graph = _step_graph(body, f"{cell}_step", inputs, new, states, carried_weights, options, keep)
    initial = [given["h0"]] + ([given["c0"]] if cell == "lstm" else []) + [op.Mul(given["h0"], op.Constant(value_float=0.0))]
    scan_inputs = [zx] + ([given["mask"]] if masked else [])
    results = op.Scan(*initial, *[given[w] for w in carried_weights], *scan_inputs, body=graph,
                      num_scan_inputs=len(scan_inputs))
    final_states = list(results[:len(states)])
    last_output, sequence = results[len(states)], results[-1]
    out = sequence if options["return_sequences"] else last_output
    return [out, *final_states]


def scan_conv_lstm(op: Any, given: dict[str, Any], options: dict[str, Any], activation_name: Any) -> list[Any]:
    """ConvLSTM (Keras's ConvLSTM1D/2D/3D) as a Scan: each step convolves its padded frame with W
    (the layer's strides and dilation) and the state with U ("same" padding), in ONNX's
    channels-first layout; [out, h, c] as the kernels return them, channels-last rows (B·S, F)."""
    U = given["U"]
    rank = len(U.shape) - 2
    kernel = [int(k) for k in U.shape[2:]]
    strides = [int(options[f"stride{d}"]) for d in range(rank)]
    dilations = [int(options[f"dilation{d}"]) for d in range(rank)]
    first = [0, rank + 1, *range(1, rank + 1)]  # channels last -> channels first
    masked = "mask" in given
    has_bias = given.get("b") is not None
    body = _Body()
    inputs = [_float("h"), _float("c"), _float("o"), _float("W"), _float("U")] + ([_float("b")] if has_bias else []) \
        + [_float("x_t")] + ([oh.make_tensor_value_info("m_t", TensorProto.BOOL, None)] if masked else [])
    act, ract = activation_name("act"), activation_name("ract")
    frame = body.op("Transpose", "x_t", perm=first)
    zx = body.op("Conv", frame, "W", *(["b"] if has_bias else []), strides=strides, dilations=dilations)
    pads = [k // 2 for k in kernel] * 2
    z = body.op("Add", zx, body.op("Conv", "h", "U", pads=pads))
    zi, zf, zc, zo = body.ops("Split", [z], 4, axis=1, num_outputs=4)
    i, f = body.activation(ract, zi), body.activation(ract, zf)
    cn = body.op("Add", body.op("Mul", f, "c"), body.op("Mul", i, body.activation(act, zc)))
    hn = body.op("Mul", body.activation(ract, zo), body.activation(act, cn))
    weights = ["W", "U"] + (["b"] if has_bias else [])
    # the mask per sample, over its whole map: (B, 1, ...)
    keep = body.op("Reshape", "m_t", body.op("Constant", value_ints=[-1] + [1] * (rank + 1))) if masked else None
    graph = _step_graph(body, "conv_lstm_step", inputs, [hn, cn], ["h", "c"], weights, options, keep)
    h0 = op.Transpose(given["h0"], perm=first)
    initial = [h0, op.Transpose(given["c0"], perm=first), op.Mul(h0, op.Constant(value_float=0.0))]
    results = op.Scan(*initial, *[given[w] for w in weights], given["x"], *([given["mask"]] if masked else []),
                      body=graph, num_scan_inputs=2 if masked else 1)
    units = int(U.shape[1])

    def rows(t: Any, leading: list[int]) -> Any:  # (…, F, *S) channels first -> (…, rows, F)
        perm = leading + [len(leading) + 1 + d for d in range(rank)] + [len(leading)]
        return op.Reshape(op.Transpose(t, perm=perm), op.Constant(value_ints=[0] * (len(leading) - 1) + [-1, units]))

    h, c = rows(results[0], [0]), rows(results[1], [0])
    if options["return_sequences"]:
        return [rows(results[-1], [0, 1]), h, c]
    return [rows(results[2], [0]), h, c]


@contextlib.contextmanager
def scan_outputs_counted() -> Iterator[None]:
    """torch's exporter (2.13) counts a node's outputs from its schema, where Scan's are one
    variadic list; while an export runs, a Scan's are its body's outputs. (A private function of
    the exporter: where it is absent, nothing is patched and a Scan with several outputs fails
    there, by name.)"""
    try:
        from torch.onnx._internal.exporter import _building
    except ImportError:
        yield
        return
    original = getattr(_building, "_determine_output_number", None)
    if original is None:
        yield
        return

    def count(signature: Any, named_attrs: Any) -> int:
        if signature.domain == "" and signature.name == "Scan" and isinstance(named_attrs.get("body"), GraphProto):
            return len(named_attrs["body"].output)
        return original(signature, named_attrs)

    _building._determine_output_number = count
    try:
        yield
    finally:
        _building._determine_output_number = original
