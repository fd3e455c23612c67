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
