"""Loading is linear in the file's size: a model of 24,000 layers in lstmkit's format (4.6 MB)
and one of 12,000 in a Keras file's JSON (listed in reverse, so that ordering the calls is real
work) load in a few seconds, and so do Sequential stacks of as many. Before, counting a layer's
calls scanned every call made so far (29 s), the Keras reader looked for the next ready call from
the start each time (80 s), and Sequential rebuilt every earlier layer's shape and searched every
name again at each `add` (12,000 layers: 66 s). Each load runs in its own
process under a time and memory limit."""

import json
import time

import pytest

import lstmkit.layers as L
from hostile import attack
from lstmkit.models import Model, Sequential

N = 12_000
N_OWN = 24_000
pytestmark = pytest.mark.slow


def keras_chain(n):
    """A Keras 3 functional model's JSON: Input, then n Activation layers in a chain, listed in
    reverse order."""
    def entry(name, cls, inbound, config):
        return {"class_name": cls, "name": name, "config": {"name": name, **config}, "inbound_nodes": inbound}

    def reads(name):
        return [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [None, 3], "dtype": "float32",
                                                                          "keras_history": [name, 0, 0]}}], "kwargs": {}}]

    chain = [entry(f"a{i}", "Activation", reads(f"a{i - 1}" if i else "input"), {"activation": "linear"}) for i in range(n)]
    layers = [entry("input", "InputLayer", [], {"batch_shape": [None, 3], "dtype": "float32"}), *chain[::-1]]
    return json.dumps({"class_name": "Functional", "config": {"name": "m", "layers": layers,
                                                              "input_layers": [["input", 0, 0]],
                                                              "output_layers": [[f"a{n - 1}", 0, 0]]}})


def test_a_keras_graph_of_12000_layers_listed_in_reverse_loads_in_seconds(tmp_path):
    (tmp_path / "model.json").write_text(keras_chain(N))
    result = attack(f"m = model_from_json(open({str(tmp_path / 'model.json')!r}).read()); assert len(m.layers) == {N + 1}",
                    setup="from lstmkit.models import model_from_json", seconds=120, megabytes=2000)
    assert result.outcome == "ok", result
    assert result.seconds < 15, result


def test_a_model_of_24000_layers_in_lstmkit_s_format_loads_in_seconds(tmp_path):
    """Made in seconds too: giving 24,000 layers of one name their own names once searched every
    suffix from 1 for each (43 s)."""
    x = inputs = L.Input(shape=(3,))
    for _ in range(N_OWN):
        x = L.Activation("linear")(x)
    start = time.perf_counter()
    model = Model(inputs, x)
    assert time.perf_counter() - start < 15
    model.save(tmp_path / "deep.lstmkit")
    result = attack(f"m = load_model({str(tmp_path / 'deep.lstmkit')!r}); assert len(m.layers) == {N_OWN + 1}",
                    setup="from lstmkit.models import load_model", seconds=120, megabytes=2000)
    assert result.outcome == "ok", result
    assert result.seconds < 15, result


def test_a_sequential_stack_of_24000_layers_loads_in_seconds(tmp_path):
    Sequential([L.Input(shape=(3,))] + [L.Activation("linear") for _ in range(N_OWN)]).save(tmp_path / "stack.lstmkit")
    result = attack(f"m = load_model({str(tmp_path / 'stack.lstmkit')!r}); assert len(m.layers) == {N_OWN}",
                    setup="from lstmkit.models import load_model", seconds=120, megabytes=2000)
    assert result.outcome == "ok", result
    assert result.seconds < 15, result


def test_a_keras_sequential_of_12000_layers_loads_in_seconds(tmp_path):
    layers = [{"class_name": "InputLayer", "config": {"batch_shape": [None, 3], "name": "in"}}] + [
        {"class_name": "Activation", "config": {"name": f"a{i}", "activation": "linear"}} for i in range(N)]
    (tmp_path / "model.json").write_text(json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": layers}}))
    result = attack(f"m = model_from_json(open({str(tmp_path / 'model.json')!r}).read()); assert len(m.layers) == {N}",
                    setup="from lstmkit.models import model_from_json", seconds=120, megabytes=2000)
    assert result.outcome == "ok", result
    assert result.seconds < 15, result
