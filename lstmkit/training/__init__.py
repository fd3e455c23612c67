"""Training: optimizers now; losses, metrics, callbacks and the fit loop as they land."""
