"""Train, export to ONNX, serve with onnxruntime alone; then stream a stateful model step by step.

1. An LSTM learns to forecast the airline passengers series (the dataset ships with lstmkit)
   from the last 12 months, and is exported with `model.export("forecast.onnx", format="onnx")`.
2. A server process that imports only numpy and onnxruntime (neither torch nor lstmkit) loads the
   file and predicts; its forecasts are lstmkit's.
3. Streaming: the same weights in a stateful model of one step per call. Its ONNX file takes the
   carried states as inputs (`lstm_state_h`, `lstm_state_c`) and returns the next ones, so a
   client feeds the series a month at a time and carries the states itself; the last forecast is
   the one the whole window gives.

    pip install "lstmkit[export]" onnxruntime
    python examples/serve_onnx.py                 # about half a minute on a laptop CPU
    python examples/serve_onnx.py --out models/   # where the .onnx files go (default: a temporary folder)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from lstmkit.datasets import airline
from lstmkit.layers import LSTM, Dense, Input
from lstmkit.models import Sequential
from lstmkit.utils import set_random_seed

SERVER = r"""
import json, sys
import numpy as np
import onnxruntime as ort
assert "torch" not in sys.modules and "lstmkit" not in sys.modules
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
windows = np.load(sys.argv[2])
name = session.get_inputs()[0].name
print(json.dumps(session.run(None, {name: windows})[0].ravel().tolist()))
"""

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", help="folder for the .onnx files (default: a temporary one)")
parser.add_argument("--epochs", type=int, default=60)
args = parser.parse_args()
set_random_seed(0)
folder = args.out or tempfile.mkdtemp()
os.makedirs(folder, exist_ok=True)

# 1. train: 12 months in, the next one out, on the log series scaled to [0, 1]
series = np.log(airline.load_series()[1].astype("float32"))
series = (series - series.min()) / (series.max() - series.min())
lookback = 12
windows = np.stack([series[i:i + lookback] for i in range(len(series) - lookback)])[:, :, None]
targets = series[lookback:, None]
model = Sequential([Input((None, 1)), LSTM(32), Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(windows[:-24], targets[:-24], epochs=args.epochs, batch_size=16, verbose=0)
path = model.export(os.path.join(folder, "forecast.onnx"), format="onnx")
print(f"exported {path}")

# 2. serve in a process without torch or lstmkit
test = windows[-24:].astype("float32")
np.save(os.path.join(folder, "test_windows.npy"), test)
served = subprocess.run([sys.executable, "-c", SERVER, path, os.path.join(folder, "test_windows.npy")],
                        capture_output=True, text=True, check=True)
onnx_forecasts = np.array(json.loads(served.stdout))
ours = model.predict(test, verbose=0).ravel()
print(f"served forecasts of the last 24 months: largest difference from lstmkit's {np.abs(onnx_forecasts - ours).max():.2e}")

# 3. stream: one month per call, the states carried by the client
import onnxruntime as ort  # noqa: E402  (the streaming client runs here, beside lstmkit, to compare)

stream = Sequential([Input((1, 1), batch_size=1), LSTM(32, stateful=True), Dense(1)])
stream.set_weights(model.get_weights())
stream_path = stream.export(os.path.join(folder, "forecast_stream.onnx"), format="onnx")
session = ort.InferenceSession(stream_path, providers=["CPUExecutionProvider"])
inputs = [i.name for i in session.get_inputs()]
states = {n: np.zeros((1, 32), np.float32) for n in inputs[1:]}
for month in test[-1]:  # the last window, a month at a time
    out, *next_states = session.run(None, {inputs[0]: month.reshape(1, 1, 1), **states})
    states = dict(zip(inputs[1:], next_states))
whole = ours[-1]
print(f"streamed forecast {out.item():.6f}, whole-window forecast {whole:.6f}, difference {abs(out.item() - whole):.2e}")
