"""The forecast recipe end to end on short runs, its baselines recomputed here, and the plots as
valid PNGs of a sensible size."""

import struct

import numpy as np
import pytest

from lstmkit import cli, plot
from lstmkit.datasets import airline
from lstmkit.models import load_model
from lstmkit.recipes import forecast
from lstmkit.utils import set_random_seed


def png_size(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_airline_forecast_runs_and_baselines_are_right():
    set_random_seed(0)
    model, res = forecast.train("airline", epochs=3, verbose=0)
    _, y = airline.load_series()
    actual = y[-24:]
    assert res.naive_rmse == pytest.approx(np.sqrt(np.mean((y[-25:-1] - actual) ** 2)))
    assert res.seasonal_naive_rmse == pytest.approx(np.sqrt(np.mean((y[-36:-12] - actual) ** 2)))
    assert res.forecast.shape == (24,) and np.isfinite(res.forecast).all()
    assert res.rmse == pytest.approx(np.sqrt(np.mean((res.forecast - actual) ** 2)))
    assert len(res.history["loss"]) == 3 and len(res.history["val_loss"]) == 3


def test_forecast_learns_to_beat_seasonal_naive_on_airline():
    set_random_seed(1)
    _, res = forecast.train("airline", epochs=60, verbose=0)
    assert res.rmse < res.seasonal_naive_rmse


def test_forecast_reads_a_csv_file(tmp_path):
    path = tmp_path / "series.csv"
    t = np.arange(80)
    path.write_text("day,value\n" + "".join(f"{i},{10 + np.sin(i / 3):.5f}\n" for i in t))
    set_random_seed(0)
    _, res = forecast.train(str(path), epochs=2, verbose=0)
    assert res.season == 1 and len(res.forecast) == 12 and np.isfinite(res.rmse)


@pytest.mark.parametrize("kwargs,name", [({"lookback": 0}, "lookback"), ({"test_size": 130}, "too few"),
                                         ({"series": "nothing.csv"}, "series")])
def test_forecast_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        forecast.train(**{"series": "airline", "epochs": 1, "verbose": 0, **kwargs})


def test_forecast_command_writes_model_and_plots(tmp_path, capsys):
    model_path, curves, fc = tmp_path / "m.lstmkit", tmp_path / "curves.png", tmp_path / "fc.png"
    assert cli.main(["forecast", "--epochs", "2", "--seed", "0", "--verbose", "0", "--save", str(model_path),
                     "--plot", str(curves), "--forecast-plot", str(fc)]) == 0
    out = capsys.readouterr().out
    assert "seasonal naive" in out and "Test RMSE" in out
    assert load_model(model_path).predict(np.zeros((1, 12, 1), dtype=np.float32)).shape == (1, 1)
    for p in (curves, fc):
        w, h = png_size(p)
        assert w >= 500 and h >= 300


def test_history_plot_has_a_panel_per_quantity(tmp_path):
    logs = {"loss": [1.0, 0.5], "accuracy": [0.5, 0.7], "val_loss": [1.1, 0.6], "val_accuracy": [0.4, 0.6]}
    w1, _ = png_size(plot.history(logs, tmp_path / "two.png"))
    w2, _ = png_size(plot.history({"loss": [1.0, 0.5]}, tmp_path / "one.png"))
    assert w1 > w2 >= 400
    with pytest.raises(ValueError, match="history"):
        plot.history({}, tmp_path / "none.png")
