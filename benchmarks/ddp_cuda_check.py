"""Two-rank data-parallel training on CUDA devices through NCCL, one rank per GPU:

    python -m torch.distributed.run --nproc-per-node 2 benchmarks/ddp_cuda_check.py

Each rank puts the seed tutorial's model on cuda:LOCAL_RANK and trains two epochs on 4,096 MNIST
images with the fused GPU kernels; rank 0 prints the history and the time per epoch, and every
rank checks that its weights equal rank 0's after training. Then each rank counts the
synchronizing CUDA calls torch reports in fits of 5 and of 20 batches: equal counts mean nothing
in a step makes the host wait for the GPU (the stop flag is agreed over a gloo group).
"""

import os
import time
import warnings

import torch
import torch.distributed as dist

from lstmkit import datasets
from lstmkit.recipes.mnist import build_model


def main() -> None:
    rank = int(os.environ["LOCAL_RANK"])
    device = f"cuda:{rank}" if torch.cuda.is_available() else "cpu"  # CPU: the same run through gloo
    if device != "cpu":
        torch.cuda.set_device(rank)
    (x, y), _ = datasets.mnist.load_data()
    x = x[:4096].astype("float32") / 255.0
    y = y[:4096]
    model = build_model().to(device)
    start = time.perf_counter()
    history = model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    seconds = (time.perf_counter() - start) / 2
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    reference = flat.clone()
    dist.broadcast(reference, 0)  # the group fit opened (nccl on CUDA)
    same = torch.equal(flat, reference)
    if rank == 0:
        print(f"backend {dist.get_backend()}, {dist.get_world_size()} ranks, {seconds:.2f} s per epoch, "
              f"history {history.history}")
    print(f"rank {rank}: weights equal rank 0's: {same}")
    if device != "cpu":
        counts = [len(syncs_in_fit(model, x[: 64 * batches], y[: 64 * batches])) for batches in (5, 20)]
        print(f"rank {rank}: synchronizing calls in fits of 5 and 20 batches: {counts} "
              f"({'per fit, not per batch' if counts[0] == counts[1] else 'GROWS WITH THE BATCHES'})")


def syncs_in_fit(model, x, y) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            model.fit(x, y, epochs=1, batch_size=64, verbose=0)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return [str(w.message) for w in caught if "synchroniz" in str(w.message)]


if __name__ == "__main__":
    main()
