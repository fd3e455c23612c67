"""ONNX export: `model.export(path, format="onnx")` and `lstmkit export MODEL OUT.onnx`.

torch's exporter (`torch.onnx.export(..., dynamo=True)`, through `torch.export`) writes every
layer's torch operations; each recurrent layer is one graph operator, `lstmkit::sequence`
(kernels/ops.py), which this module translates into ONNX's own recurrent operators where their
semantics are Keras's:

- LSTM (and CuDNNLSTM) as `LSTM`: Keras's gate blocks i, f, c, o reordered to ONNX's i, o, f, c,
  the kernels transposed to (4H, D) and (4H, H), the bias as ONNX's input bias with a zero
  recurrent one; peepholes as ONNX's P (i, o, f: the same terms, z_i and z_f from c, z_o from c');
- GRU as `GRU`: the same gate order z, r, h; `reset_after=True` is ONNX's
  `linear_before_reset=1` with Keras's recurrent bias as ONNX's, `reset_after=False` its 0;
- SimpleRNN as `RNN`;

with the activations ONNX's operators take (Keras's tanh, sigmoid, hard_sigmoid as
HardSigmoid(1/6, 1/2), relu, leaky_relu(0.2), elu, softsign, softplus, linear as Affine(1, 0))
and the initial states as ONNX's. Bidirectional layers are their two directions' operators, the
backward one between two flips of the time axis. The batch and time axes are dynamic.

A layer these operators cannot express (a mask, layer norm, cell clipping, zoneout, another
activation, ConvLSTM2D, a program's own cell) is refused by name: its explicit loop (ONNX `Scan`)
is not written yet.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import torch

from ..kernels import fused
from ..kernels import ops as kernel_ops

OPSET = 18

# kernel activation name -> (ONNX activation, alpha, beta); None: the operator's default
_ONNX_ACTIVATIONS: dict[str, tuple[str, float | None, float | None]] = {
    "tanh": ("Tanh", None, None),
    "sigmoid": ("Sigmoid", None, None),
    "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),  # Keras 3's: clip(x / 6 + 1/2, 0, 1)
    "relu": ("Relu", None, None),
    "leaky_relu": ("LeakyRelu", 0.2, None),
    "elu": ("Elu", 1.0, None),
    "softsign": ("Softsign", None, None),
    "softplus": ("Softplus", None, None),
    "linear": ("Affine", 1.0, 0.0),
}
_NAME_OF_ID = {i: name for name, i in fused.ACTIVATION_IDS.items()}
_REFUSAL = re.compile(r"((?:\w+ layer '[^']*'|a recurrent layer) cannot be exported to ONNX: [^\n]*)")

def native_refusal(cell: str, names: list[str], options: dict[str, Any]) -> str | None:
    """Why ONNX's native operators cannot compute this call as lstmkit does, or None."""
    if cell not in ("lstm", "gru", "simple_rnn"):
        return f"the {cell} cell has no ONNX operator and its explicit loop is not written yet"
    if "mask" in names:
        return ("it reads a mask (Keras's rule, states kept and outputs repeated at masked steps, needs an explicit "
                "loop, not written yet)")
    for key in ("act", "ract"):
        if key in options:
            name = _NAME_OF_ID.get(int(options[key]))
            if name not in _ONNX_ACTIVATIONS:
                return (f"its {'recurrent_activation' if key == 'ract' else 'activation'} {name!r} is not one of "
                        f"ONNX's recurrent operators' ({', '.join(_ONNX_ACTIVATIONS)})")
    if cell == "lstm":
        for flag, what in (("layer_norm", "layer normalization"), ("clip", "cell clipping (ONNX clips pre-activations)")):
            if options.get(flag):
                return f"it uses {what}, which ONNX's LSTM does not compute"
        if float(options.get("zoneout", 0.0)) > 0:
            return "it uses zoneout, whose inference-time mixing ONNX's LSTM does not compute"
    return None


def _activation_attributes(names: list[str]) -> dict[str, Any]:
    """ONNX's `activations` and, where one takes them, `activation_alpha`/`activation_beta`
    (consumed in the activations' order by the ones that use them)."""
    acts, alphas, betas = [], [], []
    for name in names:
        onnx_name, alpha, beta = _ONNX_ACTIVATIONS[name]
        acts.append(onnx_name)
        if alpha is not None:
            alphas.append(alpha)
        if beta is not None:
            betas.append(beta)
    attributes: dict[str, Any] = {"activations": acts}
    if alphas:
        attributes["activation_alpha"] = alphas
    if betas:
        attributes["activation_beta"] = betas
    return attributes


def _translate_sequence(call: str, tensors: list[Any]) -> list[Any]:
    """`lstmkit::sequence` as ONNX's LSTM, GRU or RNN (torch's exporter calls this with the
    call's JSON and its tensors as graph values)."""
    from onnxscript import opset18

    op: Any = opset18  # (its stubs type attributes as tensors; the exporter takes Python lists)
    spec = json.loads(call)
    cell, names, options = spec["cell"], spec["names"], spec["options"]
    refusal = native_refusal(cell, names, options)
    if refusal is not None:
        raise ValueError(f"{spec.get('owner') or 'a recurrent layer'} cannot be exported to ONNX: {refusal}")
    given = dict(zip(names, tensors))
    x, U = given["x"], given["U"]
    units = U.shape[0]
    blocks = {"lstm": 4, "gru": 3, "simple_rnn": 1}[cell]

    def onnx_layout(m: Any, order: list[int]) -> Any:
        """A Keras (K, G·H) kernel as ONNX's (1, G·H, K), gate blocks in `order`."""
        t = op.Transpose(m, perm=[1, 0])
        if order != list(range(blocks)):
            parts = op.Split(t, axis=0, num_outputs=blocks)
            t = op.Concat(*[parts[i] for i in order], axis=0)
        return op.Unsqueeze(t, [0])

    def onnx_bias(b: Any, order: list[int]) -> Any:
        if order != list(range(blocks)):
            parts = op.Split(b, axis=0, num_outputs=blocks)
            b = op.Concat(*[parts[i] for i in order], axis=0)
        return b

    def acts(*keys: str) -> list[str]:
        return [_NAME_OF_ID[int(options[k])] for k in keys]

    order = [0, 3, 1, 2] if cell == "lstm" else list(range(blocks))  # Keras i, f, c, o -> ONNX i, o, f, c
    W, R = onnx_layout(given["W"], order), onnx_layout(U, order)
    b = given.get("b")
    B = None
    if b is not None:
        recurrent = given.get("b_r")
        rb = onnx_bias(recurrent, order) if recurrent is not None else op.Mul(b, op.Constant(value_float=0.0))
        B = op.Unsqueeze(op.Concat(onnx_bias(b, order), rb, axis=0), [0])
    h0 = op.Unsqueeze(given["h0"], [0])
    if cell == "lstm":
        if B is None:  # ONNX's P comes after B: a zero bias in its place
            B = op.ConstantOfShape(op.Constant(value_ints=[1, 8 * units]))
        peep = given.get("peep")
        P = None
        if peep is not None and options.get("peephole"):
            p_i, p_f, p_o = op.Split(peep, axis=0, num_outputs=3)  # (1, H) each
            P = op.Concat(p_i, p_o, p_f, axis=1)  # ONNX's order i, o, f
        Y, Y_h, Y_c = op.LSTM(x, W, R, B, None, h0, op.Unsqueeze(given["c0"], [0]), P, hidden_size=units,
                              **_activation_attributes(acts("ract", "act", "act")))
        states = [op.Squeeze(Y_h, [0]), op.Squeeze(Y_c, [0])]
    elif cell == "gru":
        Y, Y_h = op.GRU(x, W, R, B, None, h0, hidden_size=units, linear_before_reset=int(options["reset_after"]),
                        **_activation_attributes(acts("ract", "act")))
        states = [op.Squeeze(Y_h, [0])]
    else:
        Y, Y_h = op.RNN(x, W, R, B, None, h0, hidden_size=units, **_activation_attributes(acts("act")))
        states = [op.Squeeze(Y_h, [0])]
    out = op.Squeeze(Y, [1]) if options["return_sequences"] else states[0]
    return [out, *states]


def export_onnx(model: torch.nn.Module, path: str | os.PathLike[str], example: torch.Tensor | None = None,
                *, opset: int = OPSET) -> str:
    """Writes `model` (built, float32) to `path` as an ONNX model with dynamic batch and time axes,
    checks it with ONNX's checker, and returns the path. `example`: an input batch to trace with
    (default: ones of the model's input shape, batch 2 and, where the time axis is open, 3 steps)."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch's exporter writes through it)
    except ImportError as missing:
        raise ImportError("ONNX export needs the onnx and onnxscript packages: pip install 'lstmkit[export]'") from missing
    declared = _declared_shape(model)
    if example is None:
        if declared is None:
            raise ValueError("export needs a built model of one input (or an example input batch: input_signature=...)")
        example = torch.ones([2] + [3 if d is None else int(d) for d in declared[1:]])
    # the batch axis, and each axis the model leaves open (the time axis, most often), stay free
    open_axes = [a for a, d in enumerate(declared or ()) if a > 0 and d is None]
    axes: dict[int, Any] = {0: torch.export.Dim("batch", min=1)}
    for a in open_axes:
        axes[a] = torch.export.Dim("time" if a == 1 else f"axis{a}", min=1)
    was_training = model.training
    model.eval()
    try:
        with kernel_ops.onnx_export(), torch.no_grad():
            program = torch.onnx.export(model, (example,), dynamo=True, opset_version=opset, verbose=False,
                                        dynamic_shapes=({**axes},), input_names=["x"],
                                        custom_translation_table={torch.ops.lstmkit.sequence.default: _translate_sequence})
    except Exception as failure:  # our refusal, naming the layer, from wherever torch's exporter wrapped it
        refusal = _refusal_in(failure)
        if refusal is not None:
            raise ValueError(refusal) from None
        raise
    finally:
        model.train(was_training)
    if program is None:
        raise RuntimeError("torch.onnx.export returned no program")
    program.save(os.fspath(path))
    onnx.checker.check_model(onnx.load(os.fspath(path)), full_check=True)
    return os.fspath(path)


def _refusal_in(failure: BaseException) -> str | None:
    """The message of a layer refused for ONNX among an exception's causes, or None."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [failure]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        found = _REFUSAL.search(str(e))
        if found:
            return found.group(1)
        todo += [e.__cause__, e.__context__]
    return None


def _declared_shape(model: torch.nn.Module) -> tuple[Any, ...] | None:
    """The model's one input shape, (None, ...) with None where an axis is open; None where it
    has several inputs or none declared."""
    shape = getattr(model, "input_shape", None)
    if shape is None or isinstance(shape, list):
        return None
    return tuple(shape)
