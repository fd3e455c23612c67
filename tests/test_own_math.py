"""The package computes its recurrences itself: torch's RNN modules and fused RNN ops are test
oracles and benchmark baselines only, so no code in lstmkit/ may reach for them."""

import ast
import pathlib

FORBIDDEN_ATTRIBUTES = {"LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell", "RNNBase", "_VF", "lstm", "gru",
                        "lstm_cell", "gru_cell", "rnn_tanh", "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell",
                        "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell"}


def uses(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in {"torch", "nn", "F", "_VF"}:
                yield node.lineno, ast.unparse(node)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            module = getattr(node, "module", "") or ""
            for alias in node.names:
                if alias.name in FORBIDDEN_ATTRIBUTES and module.startswith("torch") or "_VF" in alias.name:
                    yield node.lineno, ast.unparse(node)


# `lstmkit bench` times torch.nn.LSTM and a torch.nn.LSTMCell loop as the baselines to beat, and
# `lstmkit bench --peers` torch.nn beside Keras's backends; they are the modules allowed to name
# them, and no other module but the command line may import them.
BASELINE_MODULES = {"bench.py", "bench_peers.py"}
# every benchmark module (`--compile` and `--onnx` time lstmkit against itself and onnxruntime)
BENCH_MODULES = BASELINE_MODULES | {"bench_compile.py", "bench_serving.py"}


def test_no_torch_rnn_in_the_package():
    root = pathlib.Path(__file__).resolve().parents[1] / "lstmkit"
    offenders = [f"{path.relative_to(root)}:{line}: {code}"
                 for path in sorted(root.rglob("*.py")) if str(path.relative_to(root)) not in BASELINE_MODULES
                 for line, code in uses(ast.parse(path.read_text()))]
    assert offenders == []


def test_only_the_command_line_imports_the_benchmark():
    root = pathlib.Path(__file__).resolve().parents[1] / "lstmkit"
    importers = sorted(str(path.relative_to(root)) for path in root.rglob("*.py")
                       if str(path.relative_to(root)) not in BENCH_MODULES
                       and ("import bench" in path.read_text() or "from .bench" in path.read_text()
                            or "lstmkit.bench" in path.read_text()))
    assert importers == ["cli.py"]


def test_the_check_catches_what_it_should():
    caught = list(uses(ast.parse("import torch\nx = torch.nn.LSTM(2, 3)\ny = torch._VF.lstm\nfrom torch.nn import GRU")))
    assert len(caught) == 4
    assert list(uses(ast.parse('"""like torch.nn.LSTMCell"""\nlstm = LSTM(3)'))) == []
