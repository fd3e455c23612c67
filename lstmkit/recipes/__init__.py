"""Whole programs behind the `lstmkit` command: each recipe builds, trains and reports one model."""
