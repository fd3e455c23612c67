"""Training: optimizers and losses now; metrics, callbacks and the fit loop as they land (issue 3)."""
