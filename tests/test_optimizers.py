"""Keras 3's optimizer updates, against torch.optim where the definitions coincide (epsilon 0,
constant learning rate) and against hand-derived values where they do not."""

import math

import numpy as np

import pytest
import torch

import lstmkit.optimizers as O

STEPS = 6


def run(make, grads):
    p = torch.nn.Parameter(torch.tensor([0.5, -1.5, 2.0, 0.0], dtype=torch.float64))
    opt = make([p])
    for g in grads:
        p.grad = g.clone()
        opt.step()
    return p.detach()


def random_grads():
    generator = torch.Generator().manual_seed(7)
    return [torch.randn(4, generator=generator, dtype=torch.float64) for _ in range(STEPS)]


PAIRS = {
    "sgd": (lambda ps: O.SGD(0.1, params=ps), lambda ps: torch.optim.SGD(ps, lr=0.1)),
    "sgd-momentum": (lambda ps: O.SGD(0.1, momentum=0.9, params=ps), lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
    "sgd-nesterov": (lambda ps: O.SGD(0.1, momentum=0.9, nesterov=True, params=ps),
                     lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True)),
    "adam": (lambda ps: O.Adam(0.01, epsilon=0.0, params=ps), lambda ps: torch.optim.Adam(ps, lr=0.01, eps=0.0)),
    "adam-amsgrad": (lambda ps: O.Adam(0.01, epsilon=0.0, amsgrad=True, params=ps),
                     lambda ps: torch.optim.Adam(ps, lr=0.01, eps=0.0, amsgrad=True)),
    "rmsprop": (lambda ps: O.RMSprop(0.01, epsilon=0.0, params=ps),
                lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=0.0)),
    "rmsprop-centered-momentum": (lambda ps: O.RMSprop(0.01, rho=0.8, momentum=0.5, centered=True, epsilon=0.0, params=ps),
                                  lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.8, momentum=0.5, centered=True, eps=0.0)),
    "adagrad": (lambda ps: O.Adagrad(0.1, epsilon=0.0, params=ps),
                lambda ps: torch.optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.1, eps=0.0)),
}


@pytest.mark.parametrize("name", PAIRS)
def test_matches_torch_optim_where_definitions_coincide(name):
    ours, theirs = PAIRS[name]
    grads = random_grads()
    torch.testing.assert_close(run(ours, grads), run(theirs, grads), rtol=1e-12, atol=1e-12)


def test_adam_epsilon_enters_as_keras_adds_it():
    """First step: m = (1-b1) g, v = (1-b2) g², w -= lr·sqrt(1-b2)/(1-b1) · m / (sqrt(v) + eps)."""
    lr, b1, b2, eps, g = 0.1, 0.9, 0.999, 1e-2, 0.5
    expected = 1.0 - lr * math.sqrt(1 - b2) / (1 - b1) * (1 - b1) * g / (math.sqrt((1 - b2) * g * g) + eps)
    w = run(lambda ps: O.Adam(lr, epsilon=eps, params=ps), [torch.full((4,), g, dtype=torch.float64)])
    p0 = torch.tensor([0.5, -1.5, 2.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(w, p0 + (expected - 1.0), rtol=1e-12, atol=1e-12)


def test_rmsprop_and_adagrad_put_epsilon_inside_the_root():
    g, eps = 0.3, 0.05
    p0 = torch.tensor([0.5, -1.5, 2.0, 0.0], dtype=torch.float64)
    rms = run(lambda ps: O.RMSprop(0.1, rho=0.9, epsilon=eps, params=ps), [torch.full((4,), g, dtype=torch.float64)])
    torch.testing.assert_close(rms, p0 - 0.1 * g / math.sqrt(0.1 * g * g + eps), rtol=1e-12, atol=1e-12)
    ada = run(lambda ps: O.Adagrad(0.1, epsilon=eps, params=ps), [torch.full((4,), g, dtype=torch.float64)])
    torch.testing.assert_close(ada, p0 - 0.1 * g / math.sqrt(0.1 + g * g + eps), rtol=1e-12, atol=1e-12)


def test_keras2_lr_and_decay():
    """lr_t = lr / (1 + decay · iterations): with unit gradients w moves by 0.1, 0.1/1.5, 0.1/2."""
    w = run(lambda ps: O.SGD(lr=0.1, decay=0.5, params=ps), [torch.ones(4, dtype=torch.float64)] * 3)
    p0 = torch.tensor([0.5, -1.5, 2.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(w, p0 - (0.1 + 0.1 / 1.5 + 0.1 / 2), rtol=1e-12, atol=1e-12)
    assert O.Adam(lr=0.002).learning_rate == 0.002


def test_gradient_clipping():
    g = torch.tensor([3.0, 4.0, 0.0, 0.0], dtype=torch.float64)  # norm 5
    p0 = torch.tensor([0.5, -1.5, 2.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(run(lambda ps: O.SGD(1.0, clipnorm=1.0, params=ps), [g]), p0 - g / 5)
    torch.testing.assert_close(run(lambda ps: O.SGD(1.0, clipnorm=10.0, params=ps), [g]), p0 - g)
    torch.testing.assert_close(run(lambda ps: O.SGD(1.0, clipvalue=2.0, params=ps), [g]), p0 - g.clamp(-2, 2))
    torch.testing.assert_close(run(lambda ps: O.SGD(1.0, global_clipnorm=2.5, params=ps), [g]), p0 - g / 2)


def test_global_clipnorm_spans_all_parameters():
    a = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    b = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    a.grad, b.grad = torch.tensor([3.0], dtype=torch.float64), torch.tensor([4.0], dtype=torch.float64)
    O.SGD(1.0, global_clipnorm=1.0, params=[a, b]).step()
    torch.testing.assert_close(torch.cat([a, b]).detach(), torch.tensor([-0.6, -0.8], dtype=torch.float64))


def test_decoupled_weight_decay():
    w = run(lambda ps: O.SGD(0.1, weight_decay=0.5, params=ps), [torch.zeros(4, dtype=torch.float64)])
    torch.testing.assert_close(w, torch.tensor([0.5, -1.5, 2.0, 0.0], dtype=torch.float64) * 0.95)


@pytest.mark.parametrize("name", ["adam", "rmsprop-centered-momentum", "sgd-momentum", "adagrad"])
def test_state_dict_round_trip_continues_identically(name):
    make = PAIRS[name][0]
    grads = random_grads()
    straight = run(make, grads)
    p = torch.nn.Parameter(torch.tensor([0.5, -1.5, 2.0, 0.0], dtype=torch.float64))
    first = make([p])
    for g in grads[:3]:
        p.grad = g.clone()
        first.step()
    saved = first.state_dict()
    q = torch.nn.Parameter(p.detach().clone())
    second = make([q])
    second.load_state_dict(saved)
    assert second.iterations == 3
    for g in grads[3:]:
        q.grad = g.clone()
        second.step()
    torch.testing.assert_close(q.detach(), straight, rtol=0, atol=0)


def test_late_build_and_errors():
    opt = O.get("adam")
    assert isinstance(opt, O.Adam) and not opt.built
    with pytest.raises(ValueError, match="no parameters yet"):
        opt.step()
    opt.build([torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(ValueError, match="already bound"):
        opt.build([torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(ValueError, match="Unknown optimizer 'lion'"):
        O.get("lion")
    with pytest.raises(ValueError, match="learning_rate=-0.1"):
        O.SGD(-0.1)
    with pytest.raises(ValueError, match="at most one of clipnorm, clipvalue, global_clipnorm"):
        O.Adam(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(ValueError, match="beta_1=1.0"):
        O.Adam(beta_1=1.0)


@pytest.mark.parametrize("name, ours, theirs", [
    ("adadelta", lambda ps: O.Adadelta(0.5, params=ps), lambda: __import__("keras").optimizers.Adadelta(0.5)),
    ("adamax", lambda ps: O.Adamax(0.05, params=ps), lambda: __import__("keras").optimizers.Adamax(0.05)),
    ("nadam", lambda ps: O.Nadam(0.05, params=ps), lambda: __import__("keras").optimizers.Nadam(0.05)),
    ("adamw", lambda ps: O.AdamW(0.05, weight_decay=0.1, params=ps),
     lambda: __import__("keras").optimizers.AdamW(0.05, weight_decay=0.1)),
])
def test_more_optimizers_step_as_keras_3(name, ours, theirs):
    import keras

    grads = random_grads()
    w0 = np.array([0.5, -1.5, 2.0, 0.0], dtype="float32")
    variable = keras.Variable(w0)
    optimizer = theirs()
    for g in grads:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g.numpy().astype("float32")), variable)])
    p = torch.nn.Parameter(torch.tensor(w0))
    mine = ours([p])
    for g in grads:
        p.grad = g.float().clone()
        mine.step()
    np.testing.assert_allclose(p.detach().numpy(), keras.ops.convert_to_numpy(variable), rtol=1e-5, atol=1e-6)
    assert not np.allclose(p.detach().numpy(), w0, atol=1e-3)


# ---- the multi-tensor update against the rule written for one weight ---------------------------------

MULTI = {
    "sgd": lambda ps: O.SGD(0.1, params=ps),
    "sgd-momentum": lambda ps: O.SGD(0.1, momentum=0.9, params=ps),
    "sgd-nesterov": lambda ps: O.SGD(0.1, momentum=0.9, nesterov=True, params=ps),
    "adam": lambda ps: O.Adam(0.01, params=ps),
    "adam-amsgrad": lambda ps: O.Adam(0.01, amsgrad=True, params=ps),
    "adamw": lambda ps: O.AdamW(0.01, weight_decay=0.1, params=ps),
    "rmsprop": lambda ps: O.RMSprop(0.01, params=ps),
    "rmsprop-centered-momentum": lambda ps: O.RMSprop(0.01, rho=0.8, momentum=0.5, centered=True, params=ps),
    "adam-clipnorm-decay": lambda ps: O.Adam(0.01, clipnorm=0.5, decay=0.01, params=ps),
    "loss-scaled-adam": lambda ps: _built(O.LossScaleOptimizer(O.Adam(0.01)), ps),
}


def _built(optimizer, params):
    optimizer.build(params)
    return optimizer


def _weights(count):
    generator = torch.Generator().manual_seed(11)
    shapes = [(3, 8), (8,), (5, 2, 4), (1,)] * count
    return [torch.nn.Parameter(torch.randn(*s, generator=generator)) for s in shapes[:count]]


def _train(make, one_at_a_time, count=4, steps=8):
    params = _weights(count)
    opt = make(params)
    if one_at_a_time:  # the base class's update_all: the rule of `update`, weight by weight
        inner = getattr(opt, "inner_optimizer", opt)
        inner.update_all = lambda *args: O.Optimizer.update_all(inner, *args)
    generator = torch.Generator().manual_seed(12)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator)
        opt.step()
    return params, opt


@pytest.mark.parametrize("name", MULTI)
def test_the_multi_tensor_update_is_the_rule_for_each_weight(name):
    fast, fast_opt = _train(MULTI[name], one_at_a_time=False)
    spec, spec_opt = _train(MULTI[name], one_at_a_time=True)
    for a, b, start in zip(fast, spec, _weights(4)):
        assert not torch.equal(a, start)  # it moved
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)  # the same operations, in the same order
    for key, value in spec_opt.state_dict()["state"].items():
        for entry, tensor in value.items():
            torch.testing.assert_close(fast_opt.state_dict()["state"][key][entry], tensor, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["sgd-momentum", "adam", "rmsprop-centered-momentum"])
def test_a_step_issues_as_many_operators_for_twenty_weights_as_for_two(name):
    """On a GPU each operator is a launch from Python: the multi-tensor update's count does not
    grow with the number of weights (the loop over weights made a dozen per weight)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops += 1
            return func(*args, **(kwargs or {}))

    counts = []
    for count in (2, 20):
        params = _weights(count)
        opt = MULTI[name](params)
        for p in params:
            p.grad = torch.ones_like(p)
        opt.step()  # the state is made
        with Count() as counter:
            opt.step()
        counts.append(counter.ops)
    assert counts[0] == counts[1] and counts[0] <= 20, counts
