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
and the initial states as ONNX's. Where those operators do not compute what lstmkit does (a mask,
layer norm, cell clipping, zoneout, another activation), the layer is an explicit loop, an ONNX
`Scan` of the reference cell's step (onnx_loop.py); ConvLSTM1D/2D/3D always, its two
convolutions in the step. Bidirectional layers are their two directions, the backward one
between two flips of the time axis. The batch axis and the axes the inputs leave open are
dynamic; a stateful layer's states are inputs and outputs.

Refused, by the layer's name: a layer that runs the reference loop (a program's own cell,
`implementation="reference"`, a ConvLSTM of even kernel size), which torch would unroll.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import warnings
from typing import Any, Iterator

import torch

from .. import mixed_precision
from ..kernels import fused
from ..kernels import ops as kernel_ops
from ..layers.lookup import IndexLookup

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


def native_operator_fits(cell: str, names: list[str], options: dict[str, Any]) -> bool:
    """Whether ONNX's LSTM, GRU or RNN operator computes this call as lstmkit does; where it does
    not (a mask: Keras's rule keeps states and repeats outputs at masked steps; layer norm; cell
    clipping, which ONNX applies to pre-activations; zoneout; an activation those operators do
    not know; the convolutional cell), the layer is the explicit loop (onnx_loop.py)."""
    if cell not in ("lstm", "gru", "simple_rnn") or "mask" in names:
        return False
    if any(_NAME_OF_ID.get(int(options[key])) not in _ONNX_ACTIVATIONS for key in ("act", "ract") if key in options):
        return False
    return cell != "lstm" or not (options.get("layer_norm") or options.get("clip")
                                  or float(options.get("zoneout", 0.0)) > 0)


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

    from . import onnx_loop  # (onnx is imported only where an export runs)

    op: Any = opset18  # (its stubs type attributes as tensors; the exporter takes Python lists)
    spec = json.loads(call)
    cell, names, options = spec["cell"], spec["names"], spec["options"]
    given = dict(zip(names, tensors))
    x, U = given["x"], given["U"]
    units = U.shape[0]
    if not native_operator_fits(cell, names, options):
        if cell not in onnx_loop.LOOP_CELLS:
            raise ValueError(f"{spec.get('owner') or 'a recurrent layer'} cannot be exported to ONNX: the {cell} cell "
                             "has no ONNX operator and its explicit loop is not written yet")
        name_of = lambda key: _NAME_OF_ID[int(options[key])]  # noqa: E731
        if cell == "conv_lstm":
            return onnx_loop.scan_conv_lstm(op, given, options, name_of)
        return onnx_loop.scan_sequence(op, cell, given, options, units, name_of)
    def gate_order(t: Any) -> Any:
        """t's gate blocks along axis 0 in ONNX's order: Keras's LSTM i, f, c, o as i, o, f, c (the
        GRU's z, r, h and the RNN's one block are ONNX's already)."""
        if cell != "lstm":
            return t
        i, f, c, o = op.Split(t, axis=0, num_outputs=4)
        return op.Concat(i, o, f, c, axis=0)

    def acts(*keys: str) -> list[str]:
        return [_NAME_OF_ID[int(options[k])] for k in keys]

    # Keras's (K, G·H) kernels as ONNX's (1, G·H, K)
    W, R = (op.Unsqueeze(gate_order(op.Transpose(m, perm=[1, 0])), [0]) for m in (given["W"], U))
    b = given.get("b")
    B = None
    if b is not None:
        recurrent = given.get("b_r")
        rb = gate_order(recurrent) if recurrent is not None else op.Mul(b, op.Constant(value_float=0.0))
        B = op.Unsqueeze(op.Concat(gate_order(b), rb, axis=0), [0])
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


class _StatesAsInputs(torch.nn.Module):
    """A model with stateful layers as a graph: each such layer's carried states become inputs
    (after the model's) and its states after the batch become outputs (after the model's), so a
    server carries them from one call to the next, as the layer does between `predict` calls."""

    def __init__(self, model: torch.nn.Module, layers: list[Any]) -> None:
        super().__init__()
        self.model = model
        self.stateful = layers

    def forward(self, inputs: list[torch.Tensor], states: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        at = 0
        for layer in self.stateful:
            layer.states = list(states[at:at + layer.state_count])
            at += layer.state_count
        out = self.model(inputs[0] if len(inputs) == 1 else inputs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        return (*outs, *[s for layer in self.stateful for s in layer.states])


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch's exporter and onnxscript's optimizer report their steps and their own deprecations
    through logging and warnings; an export says nothing unless it fails."""
    names = ("torch.onnx", "onnxscript", "onnx_ir")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message=".*axis name.*", category=UserWarning)
            # (a stateful layer's states, set and read back by _StatesAsInputs within the trace)
            warnings.filterwarnings("ignore", message=".*were assigned during export.*", category=UserWarning)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _stateful_layers(model: torch.nn.Module) -> list[Any]:
    return [m for m in model.modules() if getattr(m, "stateful", False) is True and hasattr(m, "state_count")]


def export_onnx(model: torch.nn.Module, path: str | os.PathLike[str], example: Any = None, *, opset: int = OPSET) -> str:
    """Writes `model` (built, float32) to `path` as an ONNX model, checks it with ONNX's checker
    and returns the path. Its inputs are named as the model's (`model.input_names`); the batch
    axis, and every axis the model's inputs leave open (None in their shapes: the time axis, most
    often), are dynamic. A stateful layer's carried states are inputs after the model's, named
    `{layer}_state_h` (and `_c`), and its states after the batch outputs after the model's,
    `next_{layer}_state_h` (and `_c`): zeros at the start of a stream, then what the last call
    returned. `example`: an input batch (a tensor, or a list for several inputs) to
    trace with where the model's input shapes do not give one (default: ones, batch 2, three
    steps where an axis is open). A mixed-precision model is written computing in float32 (its
    weights are float32): ONNX's recurrent operators take one type for x and W, and onnxruntime's
    CPU products have no bfloat16."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch's exporter writes through it)
    except ImportError as missing:
        raise ImportError("ONNX export needs the onnx and onnxscript packages: pip install 'lstmkit[export]'") from missing
    from . import onnx_loop

    for layer in model.modules():  # strings do not enter a torch graph: say which layer holds them
        if isinstance(layer, IndexLookup):  # TextVectorization, StringLookup, IntegerLookup
            raise ValueError(f"{type(layer).__name__} layer {getattr(layer, 'name', '')!r} cannot be exported to "
                             "ONNX: its vocabulary lookup runs in Python; export the model after it (the ids as its "
                             "input) and look the ids up before calling the server")
    declared = _declared_shapes(model)
    names = list(getattr(model, "input_names", None) or [f"input_{i}" for i in range(len(declared or [()]))])
    if example is None:
        if declared is None:
            raise ValueError("export needs a built model (or an example input batch: input_signature=...)")
        examples = [torch.ones([2] + [3 if d is None else int(d) for d in shape[1:]]) for shape in declared]
    else:
        examples = list(example) if isinstance(example, (list, tuple)) else [example]
    if len(examples) != len(names):
        raise ValueError(f"the model takes {len(names)} input(s) ({', '.join(names)}); the example has {len(examples)}")
    batch = torch.export.Dim("batch", min=1)
    dynamic: list[dict[int, Any]] = []
    for name, x, shape in zip(names, examples, declared or [(None,) + (None,) * (e.dim() - 1) for e in examples]):
        axes: dict[int, Any] = {0: batch}
        for a, d in enumerate(shape):  # each axis the model leaves open stays free
            if a > 0 and d is None:
                axes[a] = torch.export.Dim(("time" if a == 1 else f"axis{a}") + ("" if len(names) == 1 else f"_{name}"),
                                           min=1)
        dynamic.append(axes)
    traced: torch.nn.Module = model
    args: tuple[Any, ...] = (examples[0],) if len(examples) == 1 else (examples,)
    shapes: tuple[Any, ...] = (dynamic[0],) if len(examples) == 1 else (dynamic,)
    output_names = None
    stateful = _stateful_layers(model)
    kept = [layer.states for layer in stateful]  # the layers' own states, put back afterwards
    if stateful:
        traced = _StatesAsInputs(model, stateful)
        state_names = [f"{layer.name}_state_{k}" for layer in stateful for k in ("hc" if layer.state_count == 2 else "h")]
        states = [torch.zeros(examples[0].shape[0], layer.units) for layer in stateful for _ in range(layer.state_count)]
        args = (examples, states)
        shapes = (dynamic, [{0: batch} for _ in states])
        names = names + state_names
        outputs = list(getattr(model, "output_names", None) or ["output"])
        output_names = outputs + [f"next_{n}" for n in state_names]
    was_training = model.training
    model.eval()
    traced.eval()
    try:
        with kernel_ops.onnx_export(), onnx_loop.scan_outputs_counted(), torch.no_grad(), _quiet(), \
                mixed_precision.computing_in_float32():  # (ONNX's LSTM and onnxruntime's CPU MatMul: no bfloat16)
            program = torch.onnx.export(traced, args, dynamo=True, opset_version=opset, verbose=False,
                                        dynamic_shapes=shapes, input_names=names, output_names=output_names,
                                        custom_translation_table={torch.ops.lstmkit.sequence.default: _translate_sequence})
    except Exception as failure:  # our refusal, naming the layer, from wherever torch's exporter wrapped it
        refusal = _refusal_in(failure)
        if refusal is not None:
            raise ValueError(refusal) from None
        raise
    finally:
        model.train(was_training)
        for layer, states in zip(stateful, kept):
            layer.states = states
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


def _declared_shapes(model: torch.nn.Module) -> list[tuple[Any, ...]] | None:
    """The model's input shapes, (None, ...) with None where an axis is open; None where it has
    none declared."""
    shape = getattr(model, "input_shape", None)
    if shape is None:
        return None
    return [tuple(s) for s in shape] if isinstance(shape, list) else [tuple(shape)]
