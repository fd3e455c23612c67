"""Training: losses, metrics, optimizers, callbacks, the progress display and the fit loop (`Trainer`)."""
