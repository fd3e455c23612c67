"""One training run for tests/test_distributed.py, as a plain process or as one rank under torchrun.

    python tests/ddp_worker.py OUT [--dtype float64] [--epochs 4] [--dropout] [--checkpoint-dir D]
        [--checkpoint-steps K] [--resume] [--crash EPOCH BATCH] [--stop-at EPOCH BATCH]
        [--own-host-group]

Rank 0 (or the plain process) writes OUT/weights.safetensors and OUT/log.csv; every rank writes
OUT/rank<r>.json with its rank, the number of ranks, its history, and its weights' and its torch
generator's bytes hashed.
"""

import argparse
import hashlib
import json
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--dropout", action="store_true")
    parser.add_argument("--checkpoint-dir")
    parser.add_argument("--checkpoint-steps", type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--crash", type=int, nargs=2)
    parser.add_argument("--stop-at", type=int, nargs=2)  # the last rank alone sets stop_training there
    parser.add_argument("--own-host-group", action="store_true")  # the host's values on a gloo group of their own
    args = parser.parse_args()

    import numpy as np
    import torch

    import lstmkit.layers as L
    from lstmkit import distributed
    from lstmkit.callbacks import Callback, CSVLogger, EarlyStopping, ReduceLROnPlateau
    from lstmkit.models import Sequential
    from lstmkit.optimizers import Adam
    from lstmkit.utils import set_random_seed

    if args.own_host_group:  # as beside an NCCL group: a second group, gloo, for the host's integers
        import torch.distributed as dist

        distributed.host_group = lambda: dist.new_group(backend="gloo")

    rng = np.random.default_rng(11)
    x = rng.normal(size=(48, 6, 3))
    y = rng.integers(0, 3, size=48)
    weights = rng.uniform(0.5, 1.5, size=48)
    x_val, y_val = rng.normal(size=(15, 6, 3)), rng.integers(0, 3, size=15)  # 15: the ranks get 8 and 7

    set_random_seed(3)
    drop = 0.3 if args.dropout else 0.0
    model = Sequential([
        L.Input(shape=(6, 3)),
        L.LSTM(8, return_sequences=True, recurrent_dropout=drop, implementation="fused"),
        L.Dropout(drop),
        L.GRU(5, implementation="fused"),
        L.Dense(3, activation="softmax"),
    ])
    if args.dtype == "float64":
        model.double()
    model.compile(optimizer=Adam(learning_rate=0.01, clipnorm=1.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])

    class Crash(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if args.crash and [self.epoch, batch] == args.crash:
                raise SystemExit(3)
            last = distributed.rank() == distributed.world_size() - 1
            if args.stop_at and [self.epoch, batch] == args.stop_at and last:
                self.model.stop_training = True

    os.makedirs(args.out, exist_ok=True)
    history = model.fit(
        x, y, sample_weight=weights, batch_size=8, epochs=args.epochs, validation_data=(x_val, y_val), verbose=0,
        callbacks=[CSVLogger(os.path.join(args.out, "log.csv")), ReduceLROnPlateau(monitor="loss", patience=1),
                   EarlyStopping(monitor="val_loss", patience=50), Crash()],
        checkpoint_dir=args.checkpoint_dir, checkpoint_steps=args.checkpoint_steps, resume=args.resume,
    )
    model.save_weights(os.path.join(args.out, "weights.safetensors"))
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    record = {"rank": distributed.rank(), "world": distributed.world_size(), "history": history.history,
              "weights_sha256": hashlib.sha256(flat.numpy().tobytes()).hexdigest(),
              "rng_sha256": hashlib.sha256(torch.get_rng_state().numpy().tobytes()).hexdigest()}
    with open(os.path.join(args.out, f"rank{distributed.rank()}.json"), "w") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main()
