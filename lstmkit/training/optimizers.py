"""Keras's optimizers with Keras 3's update rules, as `torch.optim.Optimizer`s.

A Keras program creates its optimizer before the model's weights exist
(`compile(optimizer=Adam(lr=0.001))`), so these are built later: `build(params)` binds them to
parameters, after which they are ordinary torch optimizers (`step`, `zero_grad`, `state_dict`).
Passing `params=` at construction builds at once, for plain PyTorch code.

Keras 2's arguments are accepted: `lr` for `learning_rate`, and `decay` for Keras 2's time-based
decay, lr_t = lr / (1 + decay · iterations), iterations counting the steps already taken.
"""

from __future__ import annotations

import collections
import math
from typing import Any, Callable, Iterable

import torch

from .._checks import non_negative, non_negative_int, rate


def slot(state: dict[str, Any], name: str, p: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """A weight's state entry `name` (a moment, an accumulator), made like `p` and filled with
    `fill` at its first step."""
    value = state.get(name)
    if value is None:
        value = state[name] = torch.full_like(p, fill)
    return value


def slots(params: list[torch.Tensor], states: list[dict[str, Any]], name: str) -> list[torch.Tensor]:
    """`slot` of every weight."""
    return [slot(state, name, p) for p, state in zip(params, states)]


class LearningRate(float):
    """A learning rate read from an optimizer: a float, plus the optimizer it came from (`owner`)."""

    owner: "Optimizer"

    def __new__(cls, value: float, owner: "Optimizer") -> "LearningRate":
        made = super().__new__(cls, value)
        made.owner = owner
        return made

    def __reduce__(self) -> tuple[Any, tuple[float]]:
        return float, (float(self),)  # a copy (a checkpoint, a deep copy) is a plain number


class Optimizer(torch.optim.Optimizer):
    """Shared by every optimizer here: learning-rate decay, gradient clipping, weight decay.

    Args:
        learning_rate: The step size (Keras 2's `lr` is accepted as a synonym).
        clipnorm: Clip each weight's gradient to this L2 norm.
        clipvalue: Clip each gradient element to [-clipvalue, clipvalue].
        global_clipnorm: Clip all gradients together to this global L2 norm.
        weight_decay: Decoupled decay: before each step, w -= lr · weight_decay · w.
        decay: Keras 2's time-based learning-rate decay (see the module docstring).
        params: Parameters to bind at once; otherwise call `build(params)` later.
    """

    def __init__(
        self,
        learning_rate: float,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        weight_decay: float | None = None,
        decay: float = 0.0,
        lr: float | None = None,
        params: Iterable[torch.nn.Parameter] | None = None,
        name: str | None = None,
        **hyper: Any,
    ) -> None:
        if lr is not None:
            learning_rate = lr
        self.base_learning_rate = non_negative("learning_rate", learning_rate)
        clip = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in clip.values()) > 1:
            given = ", ".join(f"{k}={v}" for k, v in clip.items() if v is not None)
            raise ValueError(f"Pass at most one of clipnorm, clipvalue, global_clipnorm; got {given}")
        self.clipnorm = non_negative("clipnorm", clipnorm, allow_none=True)
        self.clipvalue = non_negative("clipvalue", clipvalue, allow_none=True)
        self.global_clipnorm = non_negative("global_clipnorm", global_clipnorm, allow_none=True)
        self.weight_decay = non_negative("weight_decay", weight_decay, allow_none=True)
        self.decay = non_negative("decay", decay)
        self.name = name or type(self).__name__.lower()
        self.hyper = hyper
        self.iterations = 0
        self.built = False
        # torch.optim wants parameters at construction; a zero-size placeholder stands in until
        # build() swaps in the model's, so the object is a complete torch optimizer throughout.
        super().__init__([torch.nn.Parameter(torch.empty(0))], {"lr": self.base_learning_rate, **hyper})
        if params is not None:
            self.build(params)

    def build(self, params: Iterable[torch.Tensor]) -> None:
        """Binds the optimizer to parameters; it is a plain torch optimizer from then on."""
        if self.built:
            raise ValueError(f"Optimizer {self.name!r} is already bound to parameters; create a new one")
        params = list(params)
        if not params:
            raise ValueError(f"Optimizer {self.name!r} got no parameters to optimize")
        self.param_groups = []
        self.state = collections.defaultdict(dict)
        self.add_param_group({"params": params})
        self.built = True

    @property
    def learning_rate(self) -> float:
        """The current step size, with Keras 2's `decay` applied (a float that knows its
        optimizer, so Keras 2's `K.set_value(model.optimizer.lr, 0.01)` can set it)."""
        return LearningRate(self.base_learning_rate / (1.0 + self.decay * self.iterations), self)

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:  # what LR schedulers and callbacks set
        self.base_learning_rate = non_negative("learning_rate", value)

    lr = learning_rate

    def _clip(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.clipnorm:
            return [g * (self.clipnorm / torch.clamp(g.norm(), min=self.clipnorm)) for g in grads]
        if self.global_clipnorm:
            total = torch.sqrt(sum((g.square().sum() for g in grads), torch.zeros(())))
            return [g * (self.global_clipnorm / torch.clamp(total, min=self.global_clipnorm)) for g in grads]
        if self.clipvalue:
            return [g.clamp(-self.clipvalue, self.clipvalue) for g in grads]
        return grads

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One update of every parameter from its gradient (`closure`, if given, recomputes the
        loss first, as `torch.optim` takes it); returns that loss."""
        if not self.built:
            raise ValueError(f"Optimizer {self.name!r} has no parameters yet: call build(model.parameters()) first")
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        lr = self.learning_rate
        for group in self.param_groups:
            group["lr"] = lr  # kept in step for torch schedulers and anyone reading param_groups
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = self._clip([p.grad for p in params])
            if self.weight_decay:
                torch._foreach_sub_(params, torch._foreach_mul(params, self.weight_decay * lr))  # w -= w (wd lr)
            self.update_all(params, grads, [self.state[p] for p in params], lr)
        self.iterations += 1
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Torch's `zero_grad`; with `set_to_none` (every training step's) a plain loop, without
        torch's profiling wrapper: on a GPU the step's time is the host's."""
        if not set_to_none:
            super().zero_grad(set_to_none=False)
            return
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def scale_loss(self, loss: Any) -> Any:
        """Keras 3's hook for loss scaling: the loss as it is (a `LossScaleOptimizer` scales it)."""
        return loss

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, torch.Tensor]]) -> int:
        """Keras's step for a program's own training loop: `optimizer.apply_gradients(zip(grads,
        model.trainable_variables))`. The first call binds the optimizer to those variables
        (variables seen for the first time later join it); a None gradient leaves its variable as
        it is. Returns the number of steps taken so far."""
        pairs = [(g, v) for g, v in grads_and_vars]
        for _, v in pairs:
            if not isinstance(v, torch.Tensor) or not v.requires_grad:
                raise ValueError(f"apply_gradients takes (gradient, variable) pairs of trainable variables, got a "
                                 f"variable {type(v).__name__}" + ("" if not isinstance(v, torch.Tensor) else
                                                                   " that is not trainable"))
        if not self.built:
            self.build([v for _, v in pairs])
        known = {id(p) for group in self.param_groups for p in group["params"]}
        new = [v for _, v in pairs if id(v) not in known]
        if new:
            self.add_param_group({"params": new})
        chosen = {id(v) for _, v in pairs}
        saved = {id(p): p.grad for group in self.param_groups for p in group["params"]}
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None
        for g, v in pairs:
            if g is not None:
                v.grad = g.detach().to(v.dtype).reshape(v.shape)
        self.step()
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = saved[id(p)] if id(p) not in chosen else None
        return self.iterations

    def update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any], lr: float) -> None:
        """Updates one parameter `p` in place from its gradient `g`, its state and the step's
        learning rate: the rule, written for one weight."""
        raise NotImplementedError

    def update_all(self, params: list[torch.Tensor], grads: list[torch.Tensor], states: list[dict[str, Any]],
                   lr: float) -> None:
        """`update` of every parameter. The common optimizers do it with torch's multi-tensor
        (`_foreach_`) operators, the same arithmetic in the same order as their `update`, in a
        dozen launches for all the weights where a loop over them takes a dozen per weight: on a
        GPU, the seed model's Adam step is ~12 launches instead of ~120 (tested against `update`)."""
        for p, g, state in zip(params, grads, states):
            self.update(p, g, state, lr)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this optimizer (not its state)."""
        return {
            "learning_rate": self.base_learning_rate,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
            "weight_decay": self.weight_decay,
            "decay": self.decay,
            "name": self.name,
            **self.hyper,
        }

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["keras"] = {"iterations": self.iterations, "learning_rate": self.base_learning_rate}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Torch's `load_state_dict`, checked: every per-weight tensor (moments, accumulators,
        momentum buffers) must be floating point and shaped like its weight, the iteration count a
        non-negative integer and the learning rate a finite number >= 0. Nothing changes when a
        check fails (a ValueError naming the entry)."""
        state_dict = dict(state_dict)
        keras_state = state_dict.pop("keras", None)
        iterations, learning_rate = self.iterations, self.base_learning_rate
        if keras_state is not None:
            if not isinstance(keras_state, dict):
                raise ValueError(f"Expected the optimizer state's 'keras' entry to be a dict, got {keras_state!r:.100}")
            iterations = non_negative_int("iterations", keras_state.get("iterations"))
            learning_rate = non_negative("learning_rate", keras_state.get("learning_rate"))
        params = [p for group in self.param_groups for p in group["params"]]
        saved = state_dict.get("state", {})
        if not isinstance(saved, dict):
            raise ValueError(f"Expected the optimizer state's 'state' entry to be a dict, got {type(saved).__name__}")
        for index, entries in saved.items():
            if not isinstance(index, int) or not 0 <= index < len(params) or not isinstance(entries, dict):
                raise ValueError(f"The optimizer state holds an entry for weight {index!r}; the optimizer has "
                                 f"weights 0 to {len(params) - 1}")
            for key, value in entries.items():
                if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                    shown = value.dtype if isinstance(value, torch.Tensor) else type(value).__name__
                    raise ValueError(f"The optimizer state {key!r} of weight {index} should be a floating-point "
                                     f"tensor, got {shown}")
                if tuple(value.shape) != tuple(params[index].shape):
                    raise ValueError(f"The optimizer state {key!r} of weight {index} has shape {tuple(value.shape)}; "
                                     f"the weight has {tuple(params[index].shape)}")
        super().load_state_dict(state_dict)
        self.iterations, self.base_learning_rate = iterations, learning_rate

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learning_rate={self.base_learning_rate}, {self.hyper})"


class SGD(Optimizer):
    """Stochastic gradient descent, Keras 3's form (learning_rate 0.01).

    With momentum: m = momentum · m - lr · g, then w += m, or with Nesterov
    w += momentum · m - lr · g.
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs: Any) -> None:
        super().__init__(learning_rate, momentum=rate("momentum", momentum), nesterov=bool(nesterov), **kwargs)

    def update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any], lr: float) -> None:
        momentum = self.hyper["momentum"]
        if momentum == 0:
            p.sub_(g * lr)
            return
        m = slot(state, "momentum", p)
        m.mul_(momentum).sub_(g * lr)
        p.add_(m * momentum - g * lr if self.hyper["nesterov"] else m)

    def update_all(self, params: list[torch.Tensor], grads: list[torch.Tensor], states: list[dict[str, Any]],
                   lr: float) -> None:
        momentum = self.hyper["momentum"]
        step = torch._foreach_mul(grads, lr)  # g lr
        if momentum == 0:
            torch._foreach_sub_(params, step)
            return
        ms = slots(params, states, "momentum")
        torch._foreach_mul_(ms, momentum)
        torch._foreach_sub_(ms, step)
        if self.hyper["nesterov"]:
            ahead = torch._foreach_mul(ms, momentum)
            torch._foreach_sub_(ahead, step)
            torch._foreach_add_(params, ahead)
        else:
            torch._foreach_add_(params, ms)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) as Keras 3 computes it (epsilon 1e-7, added to sqrt(v) unscaled):

        m = m + (1 - β1)(g - m)      v = v + (1 - β2)(g² - v)
        w -= lr · sqrt(1 - β2^t) / (1 - β1^t) · m / (sqrt(v) + ε)

    With `amsgrad`, v is replaced by the running maximum of v.
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate,
            beta_1=rate("beta_1", beta_1),
            beta_2=rate("beta_2", beta_2),
            epsilon=non_negative("epsilon", epsilon),
            amsgrad=bool(amsgrad),
            **kwargs,
        )

    def update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any], lr: float) -> None:
        b1, b2, eps = self.hyper["beta_1"], self.hyper["beta_2"], self.hyper["epsilon"]
        m = slot(state, "m", p)
        v = slot(state, "v", p)
        t = self.iterations + 1
        m.add_((g - m) * (1 - b1))
        v.add_((g * g - v) * (1 - b2))
        if self.hyper["amsgrad"]:
            v_max = slot(state, "v_max", p)
            torch.maximum(v_max, v, out=v_max)
            v = v_max
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        p.sub_(m * alpha / (v.sqrt() + eps))

    def update_all(self, params: list[torch.Tensor], grads: list[torch.Tensor], states: list[dict[str, Any]],
                   lr: float) -> None:
        b1, b2, eps = self.hyper["beta_1"], self.hyper["beta_2"], self.hyper["epsilon"]
        ms = slots(params, states, "m")
        vs = slots(params, states, "v")
        t = self.iterations + 1
        dm = torch._foreach_sub(grads, ms)  # m += (g - m)(1 - β1)
        torch._foreach_mul_(dm, 1 - b1)
        torch._foreach_add_(ms, dm)
        dv = torch._foreach_mul(grads, grads)  # v += (g² - v)(1 - β2)
        torch._foreach_sub_(dv, vs)
        torch._foreach_mul_(dv, 1 - b2)
        torch._foreach_add_(vs, dv)
        if self.hyper["amsgrad"]:
            v_max = slots(params, states, "v_max")
            torch._foreach_maximum_(v_max, vs)
            vs = v_max
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        step = torch._foreach_mul(ms, alpha)  # w -= m α / (sqrt(v) + ε)
        root = torch._foreach_sqrt(vs)
        torch._foreach_add_(root, eps)
        torch._foreach_div_(step, root)
        torch._foreach_sub_(params, step)


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e) as Keras 3 computes it (epsilon inside the square root):

        v = ρ v + (1 - ρ) g²;  centered: a = ρ a + (1 - ρ) g, denominator v - a² + ε, else v + ε
        step = lr · g / sqrt(denominator);  with momentum: s = momentum · s + step, w -= s
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate,
            rho=rate("rho", rho),
            momentum=rate("momentum", momentum),
            epsilon=non_negative("epsilon", epsilon),
            centered=bool(centered),
            **kwargs,
        )

    def update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any], lr: float) -> None:
        rho, eps, momentum = self.hyper["rho"], self.hyper["epsilon"], self.hyper["momentum"]
        v = slot(state, "velocity", p)
        v.mul_(rho).add_(g * g * (1 - rho))
        if self.hyper["centered"]:
            a = slot(state, "average_gradient", p)
            a.mul_(rho).add_(g * (1 - rho))
            denominator = v - a * a + eps
        else:
            denominator = v + eps
        increment = g * lr / denominator.sqrt()
        if momentum > 0:
            s = slot(state, "momentum", p)
            s.mul_(momentum).add_(increment)
            p.sub_(s)
        else:
            p.sub_(increment)

    def update_all(self, params: list[torch.Tensor], grads: list[torch.Tensor], states: list[dict[str, Any]],
                   lr: float) -> None:
        rho, eps, momentum = self.hyper["rho"], self.hyper["epsilon"], self.hyper["momentum"]
        vs = slots(params, states, "velocity")
        g2 = torch._foreach_mul(grads, grads)  # v = ρ v + g² (1 - ρ)
        torch._foreach_mul_(g2, 1 - rho)
        torch._foreach_mul_(vs, rho)
        torch._foreach_add_(vs, g2)
        if self.hyper["centered"]:
            avg = slots(params, states, "average_gradient")
            ga = torch._foreach_mul(grads, 1 - rho)  # a = ρ a + g (1 - ρ)
            torch._foreach_mul_(avg, rho)
            torch._foreach_add_(avg, ga)
            denominator = torch._foreach_sub(vs, torch._foreach_mul(avg, avg))  # v - a² + ε
            torch._foreach_add_(denominator, eps)
        else:
            denominator = torch._foreach_add(vs, eps)
        increment = torch._foreach_mul(grads, lr)  # g lr / sqrt(denominator)
        torch._foreach_sqrt_(denominator)
        torch._foreach_div_(increment, denominator)
        if momentum > 0:
            ss = slots(params, states, "momentum")
            torch._foreach_mul_(ss, momentum)
            torch._foreach_add_(ss, increment)
            torch._foreach_sub_(params, ss)
        else:
            torch._foreach_sub_(params, increment)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011) as Keras 3 computes it: the accumulator starts at 0.1,
    acc += g², w -= lr · g / sqrt(acc + ε)."""

    def __init__(
        self,
        learning_rate: float = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate,
            initial_accumulator_value=non_negative("initial_accumulator_value", initial_accumulator_value),
            epsilon=non_negative("epsilon", epsilon),
            **kwargs,
        )

    def update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any], lr: float) -> None:
        acc = slot(state, "accumulator", p, self.hyper["initial_accumulator_value"])
        acc.add_(g * g)
        p.sub_(g * lr / (acc + self.hyper["epsilon"]).sqrt())


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), Keras 3's `AdamW`: the same
    steps as `Adam`, each weight first shrunk by lr · weight_decay (default 0.004)."""

    def __init__(self, learning_rate: float = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, **kwargs: Any) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012) as Keras 3 computes it, the step scaled by the learning rate:

        a = ρ a + (1 - ρ) g²;   Δ = -sqrt(d + ε) / sqrt(a + ε) · g;   d = ρ d + (1 - ρ) Δ²;   w += lr · Δ
    """

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.95, epsilon: float = 1e-7, **kwargs: Any) -> None:
        super().__init__(learning_rate, rho=rate("rho", rho), epsilon=non_negative("epsilon", epsilon), **kwargs)

    def update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any], lr: float) -> None:
        rho, eps = self.hyper["rho"], self.hyper["epsilon"]
        a = slot(state, "accumulated_grad", p)
        d = slot(state, "accumulated_delta", p)
        a.mul_(rho).add_(g * g * (1 - rho))
        delta = -(d + eps).sqrt() / (a + eps).sqrt() * g
        d.mul_(rho).add_(delta * delta * (1 - rho))
        p.add_(delta * lr)


class Adamax(Optimizer):
    """Adamax (Kingma & Ba 2015, the infinity norm) as Keras 3 computes it:

        m = m + (1 - β1)(g - m);   u = max(β2 u, |g|);   w -= lr · m / ((1 - β1^t)(u + ε))
    """

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs: Any) -> None:
        super().__init__(learning_rate, beta_1=rate("beta_1", beta_1), beta_2=rate("beta_2", beta_2),
                         epsilon=non_negative("epsilon", epsilon), **kwargs)

    def update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any], lr: float) -> None:
        b1, b2, eps = self.hyper["beta_1"], self.hyper["beta_2"], self.hyper["epsilon"]
        m = slot(state, "m", p)
        u = slot(state, "u", p)
        m.add_((g - m) * (1 - b1))
        torch.maximum(u * b2, g.abs(), out=u)
        p.sub_(m * lr / ((1 - b1 ** (self.iterations + 1)) * (u + eps)))


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat 2016) as Keras 3 computes it, with the momentum
    schedule μ_t = β1 (1 − ½ · 0.96^t) and Π_t = μ_1 ⋯ μ_t:

        m = m + (1 − β1)(g − m);   v = v + (1 − β2)(g² − v)
        m̂ = μ_{t+1} m / (1 − Π_t μ_{t+1}) + (1 − μ_t) g / (1 − Π_t);   v̂ = v / (1 − β2^t)
        w −= lr · m̂ / (sqrt(v̂) + ε)
    """

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs: Any) -> None:
        super().__init__(learning_rate, beta_1=rate("beta_1", beta_1), beta_2=rate("beta_2", beta_2),
                         epsilon=non_negative("epsilon", epsilon), **kwargs)
        self._schedule: tuple[int, float] = (0, 1.0)  # (t, Π_t), extended step by step

    def _mu(self, t: int) -> float:
        return self.hyper["beta_1"] * (1.0 - 0.5 * 0.96**t)

    def _product(self, t: int) -> float:
        known, value = self._schedule if self._schedule[0] <= t else (0, 1.0)
        for k in range(known + 1, t + 1):
            value *= self._mu(k)
        self._schedule = (t, value)
        return value

    def update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any], lr: float) -> None:
        b1, b2, eps = self.hyper["beta_1"], self.hyper["beta_2"], self.hyper["epsilon"]
        t = self.iterations + 1
        mu_t, mu_next, product = self._mu(t), self._mu(t + 1), self._product(t)
        m = slot(state, "m", p)
        v = slot(state, "v", p)
        m.add_((g - m) * (1 - b1))
        v.add_((g * g - v) * (1 - b2))
        m_hat = m * (mu_next / (1 - product * mu_next)) + g * ((1 - mu_t) / (1 - product))
        v_hat = v / (1 - b2**t)
        p.sub_(m_hat * lr / (v_hat.sqrt() + eps))


class LossScaleOptimizer(Optimizer):
    """Dynamic loss scaling for float16 training (Keras's `LossScaleOptimizer`): the loss is
    multiplied by a scale before the backward pass, so small gradients do not underflow in
    float16, and the gradients are divided by it before the inner optimizer's update. A step
    whose gradients hold inf or NaN is skipped and halves the scale; `dynamic_growth_steps`
    finite steps in a row double it.

    `fit` scales the loss itself (and `compile` wraps the optimizer in one for a model whose
    policy is mixed_float16, as Keras 3 does). A program's own loop writes Keras 3's
    `scaled = optimizer.scale_loss(loss)` then `apply_gradients` (which unscales), or Keras 2's
    `get_scaled_loss(loss)` and `get_unscaled_gradients(grads)` before `apply_gradients`.

    Args:
        inner_optimizer: The optimizer whose rule updates the weights (an object, a name, or
            its serialized form {"class_name": ..., "config": ...}).
        initial_scale: The first scale (Keras's 2**15).
        dynamic_growth_steps: Finite steps after which the scale doubles (Keras's 2000).
        dynamic: False keeps the scale at `initial_scale` (Keras 2's fixed loss scale);
            non-finite steps are still skipped.
    """

    def __init__(self, inner_optimizer: Any, initial_scale: float = 2.0**15, dynamic_growth_steps: int = 2000,
                 dynamic: bool = True, name: str | None = None, **ignored: Any) -> None:
        if isinstance(inner_optimizer, dict) and "class_name" in inner_optimizer:
            inner_optimizer = class_named(str(inner_optimizer["class_name"]))(**dict(inner_optimizer.get("config", {})))
        inner = get(inner_optimizer)
        if isinstance(inner, LossScaleOptimizer):
            raise ValueError("inner_optimizer is already a LossScaleOptimizer; pass the optimizer it wraps")
        if inner.built:
            raise ValueError(f"inner_optimizer {inner.name!r} is already bound to weights; pass a new optimizer")
        scale = non_negative("initial_scale", initial_scale)
        if not scale > 0:
            raise ValueError(f"initial_scale must be > 0, got initial_scale={initial_scale!r}")
        self.inner_optimizer = inner
        self.initial_scale, self.dynamic = float(scale), bool(dynamic)
        self.dynamic_growth_steps = non_negative_int("dynamic_growth_steps", dynamic_growth_steps)
        if self.dynamic_growth_steps < 1:
            raise ValueError(f"dynamic_growth_steps must be >= 1, got dynamic_growth_steps={dynamic_growth_steps!r}")
        self.loss_scale = float(scale)
        self.good_steps = 0  # finite steps since the scale last changed
        self._unscaled_by_caller = False
        super().__init__(inner.base_learning_rate, clipnorm=inner.clipnorm, clipvalue=inner.clipvalue,
                         global_clipnorm=inner.global_clipnorm, weight_decay=inner.weight_decay, decay=inner.decay,
                         name=name or "loss_scale_optimizer", **inner.hyper)

    def update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any], lr: float) -> None:
        self.inner_optimizer.iterations = self.iterations
        self.inner_optimizer.update(p, g, state, lr)

    def update_all(self, params: list[torch.Tensor], grads: list[torch.Tensor], states: list[dict[str, Any]],
                   lr: float) -> None:
        self.inner_optimizer.iterations = self.iterations
        self.inner_optimizer.update_all(params, grads, states, lr)

    def scale_loss(self, loss: Any) -> Any:
        """The loss times the current scale (Keras 3's name)."""
        return loss * self.loss_scale

    def get_scaled_loss(self, loss: Any) -> Any:
        """Keras 2's name for `scale_loss`."""
        return self.scale_loss(loss)

    def get_unscaled_gradients(self, grads: Iterable[Any]) -> list[Any]:
        """Keras 2: the gradients of a scaled loss divided by the scale (None stays None); the
        next `apply_gradients` then takes them as they are."""
        self._unscaled_by_caller = True
        return [None if g is None else g / self.loss_scale for g in grads]

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Unscales the gradients (unless the program did), then either the inner rule's update
        (all finite) or a skipped step with the scale halved."""
        if not self.built:
            raise ValueError(f"Optimizer {self.name!r} has no parameters yet: call build(model.parameters()) first")
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        finite = self._unscale(grads, 1.0 if self._unscaled_by_caller else self.loss_scale) if grads else True
        self._unscaled_by_caller = False
        if not finite:
            self.good_steps = 0
            if self.dynamic:
                self.loss_scale = max(self.loss_scale / 2.0, 1.0)
            return None
        self.good_steps += 1
        if self.dynamic and self.good_steps >= self.dynamic_growth_steps:
            self.loss_scale *= 2.0
            self.good_steps = 0
        return super().step(closure)

    @staticmethod
    def _unscale(grads: list[torch.Tensor], scale: float) -> bool:
        """Divides the gradients by `scale` in place; whether they are all finite. One
        multi-tensor operator does both where dividing is multiplying by 1 / scale exactly (a
        power of two: every scale the dynamic rule sets from the default start)."""
        found = torch.zeros(1, dtype=torch.float32, device=grads[0].device)
        if math.frexp(scale)[0] != 0.5:
            torch._foreach_div_(grads, scale)
            scale = 1.0
        inverse = torch.full((1,), 1.0 / scale, dtype=torch.float32, device=grads[0].device)
        torch._amp_foreach_non_finite_check_and_unscale_(grads, found, inverse)
        return not bool(found.item())

    def get_config(self) -> dict[str, Any]:
        return {"inner_optimizer": {"class_name": type(self.inner_optimizer).__name__,
                                    "config": {**self.inner_optimizer.get_config(), "learning_rate": self.base_learning_rate}},
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps,
                "dynamic": self.dynamic, "name": self.name}

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["keras"].update(loss_scale=self.loss_scale, good_steps=self.good_steps)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        keras_state = state_dict.get("keras")
        scale, good = self.loss_scale, self.good_steps
        if isinstance(keras_state, dict) and "loss_scale" in keras_state:
            scale = non_negative("loss_scale", keras_state["loss_scale"])
            good = non_negative_int("good_steps", keras_state.get("good_steps", 0))
            if not scale > 0:
                raise ValueError(f"The optimizer state's loss_scale must be > 0, got {scale!r}")
            keras_state = {k: v for k, v in keras_state.items() if k not in ("loss_scale", "good_steps")}
            state_dict = {**state_dict, "keras": keras_state}
        super().load_state_dict(state_dict)
        self.loss_scale, self.good_steps = float(scale), good


_REGISTRY: dict[str, Callable[[], Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop,
                                                  "adagrad": Adagrad, "adadelta": Adadelta, "adamax": Adamax,
                                                  "nadam": Nadam}


def get(identifier: str | Optimizer) -> Optimizer:
    """An optimizer from a name (Keras's defaults) or an optimizer object.

    >>> get("adam").learning_rate
    0.001
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _REGISTRY:
        return _REGISTRY[identifier.lower()]()
    raise ValueError(
        f"Unknown optimizer {identifier!r}; use one of {', '.join(sorted(_REGISTRY))} or an optimizer object "
        "such as lstmkit.optimizers.Adam(learning_rate=1e-3)"
    )


def class_named(name: str) -> type[Optimizer]:
    """The optimizer class a file names (`"Adam"`, `"RMSprop"`: Keras's names are lstmkit's): a
    concrete one only.

    Raises:
        ValueError: Naming it, for the abstract `Optimizer` or any name lstmkit has no optimizer for.
    """
    found = globals().get(name) if isinstance(name, str) else None
    if not (isinstance(found, type) and issubclass(found, Optimizer)):
        raise ValueError(f"unknown optimizer class {str(name)[:80]!r}; a file names one of {', '.join(names())}")
    if found.update is Optimizer.update:  # the shared base: it has no update rule
        raise ValueError(f"optimizer class {name!r} is abstract; a file names one of {', '.join(names())}")
    return found


def names() -> list[str]:
    """The optimizer names `get` takes."""
    return sorted(_REGISTRY)
