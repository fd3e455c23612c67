"""How fast can an LSTM training step on the seed MNIST model be on this machine? A lower bound
from the matrix products alone, next to torch.nn.LSTM's measured time.

    python benchmarks/gemm_floor.py

Every LSTM implementation does the same products for the seed model's two layers (batch 32,
28 steps, 128 units): the input projection of all steps, one h U per step forward and one
dz U^T per step backward, and the weight gradients. The script times torch.mm (MKL here) on
one thread for the two kinds of shape — the big all-steps products, and a per-step product on
the half batch one core runs — counts the products' floating-point operations, and prints the
time they need at those rates on all cores, against the time of the same two layers on
torch.nn.LSTM (oneDNN) and on lstmkit's fused path, forward and backward. Element-wise work (gates, the optimizer, dropout)
comes on top of the bound. Timings of torch.mm include a few microseconds of Python per call.
"""

from __future__ import annotations

import statistics
import time

import torch


def rate(m: int, k: int, n: int, reps: int) -> float:
    """GFLOP/s of an (m x k) @ (k x n) product on one thread, median of 5 runs."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    out = torch.empty(m, n)
    runs = []
    for _ in range(6):
        start = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b, out=out)
        runs.append((time.perf_counter() - start) / reps)
    return 2 * m * k * n / statistics.median(runs[1:]) / 1e9


def two_layers_ms(batch: int, steps: int, features: int, units: int) -> tuple[float, float]:
    """ms for the seed model's two LSTM layers, forward and backward: (torch.nn.LSTM, lstmkit
    fused), interleaved, medians of 40 runs."""
    from lstmkit.layers import LSTM

    t1 = torch.nn.LSTM(features, units, batch_first=True)
    t2 = torch.nn.LSTM(units, units, batch_first=True)
    k1 = LSTM(units, return_sequences=True, implementation="fused")
    k2 = LSTM(units, implementation="fused")
    k1.ensure_built((None, steps, features))
    k2.ensure_built((None, steps, units))
    x = torch.randn(batch, steps, features)
    contenders = {
        "nn": lambda: t2(t1(x)[0])[0][:, -1].sum().backward(),
        "fused": lambda: k2(k1(x, training=True), training=True).sum().backward(),
    }
    runs: dict[str, list[float]] = {name: [] for name in contenders}
    for i in range(45):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            if i >= 5:
                runs[name].append(time.perf_counter() - start)
    return statistics.median(runs["nn"]) * 1e3, statistics.median(runs["fused"]) * 1e3


def main() -> None:
    B, T, D, H = 32, 28, 28, 128
    G = 4 * H
    cores = torch.get_num_threads()
    rows = T * B
    torch.set_num_threads(1)
    big = rate(rows, H, G, 20)
    step = rate(B // cores, H, G, 400)
    print(f"torch.mm on one thread: {big:.1f} GFLOP/s for ({rows} x {H}) @ ({H} x {G}); "
          f"{step:.1f} GFLOP/s for ({B // cores} x {H}) @ ({H} x {G}), one step's product on one core's half batch")
    per_step = 4 * 2 * rows * H * G  # h U forward and dz U^T backward, both layers, all steps
    projections = 2 * rows * G * (D + H)  # x W of both layers
    weight_grads = 2 * rows * G * (D + H) + 2 * (2 * rows * H * G)  # dW and dU of both layers
    input_grad = 2 * rows * G * H  # layer 2's dx (layer 1's input needs none)
    big_flops = projections + weight_grads + input_grad
    floor = per_step / (step * 1e9 * cores) + big_flops / (big * 1e9 * cores)
    torch.set_num_threads(cores)
    measured, fused = two_layers_ms(B, T, D, H)
    print(f"seed model, two LSTM layers, one training step: {(per_step + big_flops) / 1e9:.2f} GFLOP "
          f"({per_step / 1e9:.2f} in per-step products, {big_flops / 1e9:.2f} in all-steps products)")
    print(f"products alone at those rates on {cores} cores: {floor * 1e3:.1f} ms")
    print(f"torch.nn.LSTM, the same two layers forward + backward: {measured:.1f} ms; "
          f"0.8 x that: {0.8 * measured:.1f} ms, leaving {0.8 * measured - floor * 1e3:.1f} ms "
          "for everything but the products")
    print(f"lstmkit fused, the same: {fused:.1f} ms ({fused / measured:.2f} x torch.nn.LSTM), "
          f"{fused - floor * 1e3:.1f} ms above the products' bound")


if __name__ == "__main__":
    main()
