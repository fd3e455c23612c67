"""Mixed precision as Keras spells it: a dtype policy per layer, a global default, loss scaling.

    keras.mixed_precision.set_global_policy("mixed_bfloat16")   # or "mixed_float16"
    model = Sequential([LSTM(128), Dense(10, activation="softmax")])

A policy names two dtypes: the variables' (always float32 here) and the computation's. A layer
under a mixed policy casts its floating inputs to the compute dtype, runs its products under
torch's autocast (weights stay float32; torch casts them per operation) and gives its outputs in
the compute dtype, as Keras's layers do. Where the precision matters, float32 is kept:

- a layer ending in softmax computes the softmax in float32 and outputs float32 (what Keras's
  guide asks of a model's last layer), so probabilities and the loss do not round;
- the recurrent layers compute their input product x W in the compute dtype and the rest of the
  time loop (the recurrent product, gates, states) in float32, on the reference loop and the
  fused kernels alike, so a long sequence's state does not lose precision step by step; their
  outputs are cast to the compute dtype;
- losses are computed in float32; variables and the optimizer's state are float32.

`mixed_float16` also needs loss scaling, or small gradients underflow to zero: `compile` wraps
the optimizer in a `LossScaleOptimizer` for a model whose policy is mixed_float16, as Keras 3 does;
a program's own loop uses `optimizer.scale_loss` (Keras 3) or `get_scaled_loss` /
`get_unscaled_gradients` (Keras 2).
"""

from __future__ import annotations

import contextlib
import types
from dataclasses import dataclass
from typing import Any, Iterator

import torch

# the compute dtypes of the mixed policies: what a mixed layer's outputs (and a recurrent layer's x) hold
LOW_PRECISION = (torch.float16, torch.bfloat16)

_TORCH = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64}

# policy name -> (compute dtype, variable dtype)
POLICIES = {
    "float32": ("float32", "float32"),
    "mixed_float16": ("float16", "float32"),
    "mixed_bfloat16": ("bfloat16", "float32"),
}


@dataclass(frozen=True)
class DTypePolicy:
    """A dtype policy: "float32", "mixed_float16" or "mixed_bfloat16" (Keras's names)."""

    name: str = "float32"

    def __post_init__(self) -> None:
        if self.name not in POLICIES:
            raise ValueError(f"dtype policy must be one of {', '.join(map(repr, POLICIES))} (variables are float32 "
                             f"in lstmkit; model.double() makes a float64 model), got {self.name!r}")

    @property
    def compute_dtype(self) -> str:
        """The dtype layers compute in: "float32", "float16" or "bfloat16"."""
        return POLICIES[self.name][0]

    @property
    def variable_dtype(self) -> str:
        """The dtype of the weights: "float32"."""
        return POLICIES[self.name][1]

    @property
    def torch_compute_dtype(self) -> torch.dtype:
        """`compute_dtype` as a torch dtype."""
        return _TORCH[self.compute_dtype]

    @property
    def is_mixed(self) -> bool:
        """Whether the computation is in another dtype than the weights."""
        return self.compute_dtype != self.variable_dtype

    def get_config(self) -> dict[str, Any]:
        """Keras's serialized form: {"name": ...}."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "DTypePolicy":
        """The policy `get_config` describes."""
        return cls(str(config["name"]))

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self.name}">'


Policy = DTypePolicy  # Keras 2's name
FLOAT32 = DTypePolicy("float32")

_global = [FLOAT32]


def policy_of(value: Any, argument: str = "dtype") -> DTypePolicy:
    """A policy from what a program passes: None (the global policy), a name, a DTypePolicy, a
    torch dtype or Keras's serialized form ({"class_name": "DTypePolicy", "config": {...}})."""
    if value is None:
        return _global[0]
    if isinstance(value, DTypePolicy):
        return value
    if isinstance(value, dict) and isinstance(value.get("config"), dict) and "name" in value["config"]:
        value = value["config"]["name"]
    if value is torch.float32:
        return FLOAT32
    if isinstance(value, str) and value in POLICIES:
        return DTypePolicy(value)
    raise ValueError(f"{argument} must be a dtype policy ({', '.join(map(repr, POLICIES))}) or a DTypePolicy; "
                     f"variables are float32 in lstmkit (model.double() makes a float64 model), got {argument}={value!r}")


def set_global_policy(policy: Any) -> None:
    """The policy of the layers created from now on (None: back to "float32")."""
    _global[0] = FLOAT32 if policy is None else policy_of(policy, "policy")


def global_policy() -> DTypePolicy:
    return _global[0]


# Keras 3's other spellings (keras.config.set_dtype_policy, keras.config.dtype_policy)
set_dtype_policy = set_global_policy
dtype_policy = global_policy


_suspended = [0]


@contextlib.contextmanager
def computing_in_float32() -> Iterator[None]:
    """Within the block, layers of a mixed policy compute as float32 layers (their weights are
    float32 already): what an ONNX export writes, for runtimes without bfloat16 arithmetic."""
    _suspended[0] += 1
    try:
        yield
    finally:
        _suspended[0] -= 1


def suspended() -> bool:
    """Whether `computing_in_float32` is in force."""
    return _suspended[0] > 0


def __getattr__(name: str) -> Any:
    if name == "LossScaleOptimizer":  # the training package sits above this module
        from .training.optimizers import LossScaleOptimizer

        return LossScaleOptimizer
    raise AttributeError(f"module 'lstmkit.mixed_precision' has no attribute {name!r}")


def _experimental_loss_scale_optimizer(optimizer: Any, loss_scale: Any = "dynamic", **kwargs: Any) -> Any:
    """TensorFlow 2.3's form: `loss_scale="dynamic"` or a number (a fixed scale)."""
    from .training.optimizers import LossScaleOptimizer

    if loss_scale != "dynamic":
        if isinstance(loss_scale, bool) or not isinstance(loss_scale, (int, float)):
            raise ValueError(f"loss_scale must be 'dynamic' or a number, got loss_scale={loss_scale!r}")
        kwargs.update(initial_scale=float(loss_scale), dynamic=False)
    return LossScaleOptimizer(optimizer, **kwargs)


# TensorFlow 2.1-2.3's `tf.keras.mixed_precision.experimental`
experimental = types.SimpleNamespace(Policy=DTypePolicy, set_policy=set_global_policy, global_policy=global_policy,
                                     LossScaleOptimizer=_experimental_loss_scale_optimizer)

__all__ = ["DTypePolicy", "Policy", "LossScaleOptimizer", "set_global_policy", "global_policy", "set_dtype_policy",
           "dtype_policy", "policy_of", "experimental"]
