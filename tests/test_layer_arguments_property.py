"""Properties of the recurrent layers' arguments, shapes, masks and dtypes.

Valid ones are always accepted and the fused path equals the reference cell on every example;
any mix of good and bad ones either works, with the same agreement, or raises a ValueError or
TypeError (never another exception from inside torch)."""

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lstmkit.layers as L

LAYERS = {"LSTM": L.LSTM, "GRU": L.GRU, "SimpleRNN": L.SimpleRNN}

# bad values mixed with good ones (the good ones make some examples reach the comparison)
units = st.one_of(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.integers(-2, 0),
                  st.sampled_from([2.5, True, "3", None]))
activation = st.sampled_from(["tanh", "tanh", "relu", "sigmoid", "linear", "nope", 3, None])
rate = st.one_of(st.sampled_from([0.0, 0.0, 0.3, 0.99]), st.sampled_from([-0.1, 1.0, 1.5, "x", None]))
dtypes = st.sampled_from([torch.float32, torch.float32, torch.float64, torch.float64, torch.int64, torch.bool,
                          torch.float16, torch.complex64])


def valid_arguments(draw, kind):
    kwargs = {
        "units": draw(st.integers(1, 5)),
        "activation": draw(st.sampled_from(["tanh", "relu"])),
        "dropout": draw(st.sampled_from([0.0, 0.3])),
        "recurrent_dropout": draw(st.sampled_from([0.0, 0.3])),
        "return_sequences": draw(st.booleans()),
        "go_backwards": draw(st.booleans()),
    }
    if kind == "LSTM":
        kwargs.update(peephole=draw(st.booleans()), layer_norm=draw(st.booleans()),
                      zoneout=draw(st.sampled_from([0.0, 0.2])))
    if kind == "GRU":
        kwargs["reset_after"] = draw(st.booleans())
    shape = tuple(draw(st.integers(1, 5)) for _ in range(3))
    mask_kind = draw(st.sampled_from(["none", "random"]))
    dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.int64]))
    return kwargs, shape, dtype, mask_kind


@st.composite
def valid_cases(draw):
    """Every argument, shape, mask and dtype one a user may pass: each must be accepted."""
    kind = draw(st.sampled_from(sorted(LAYERS)))
    return (kind, *valid_arguments(draw, kind), draw(st.integers(0, 2**16)))


@st.composite
def any_cases(draw):
    """Mostly bad values mixed with good ones."""
    kind = draw(st.sampled_from(sorted(LAYERS)))
    kwargs, _, _, _ = valid_arguments(draw, kind)
    kwargs.update(units=draw(units), activation=draw(activation), dropout=draw(rate),
                  recurrent_dropout=draw(rate))
    if kind == "LSTM":
        kwargs["zoneout"] = draw(rate)
    rank = draw(st.sampled_from([2, 3, 3, 3, 4]))
    shape = tuple(draw(st.integers(0 if i == 1 else 1, 5)) for i in range(rank))
    mask_kind = draw(st.sampled_from(["none", "random", "wrong shape", "floats"]))
    return kind, kwargs, shape, draw(dtypes), mask_kind, draw(st.integers(0, 2**16))


def inputs(shape, dtype, mask_kind, seed):
    torch.manual_seed(seed)
    x = (torch.randn(shape, dtype=torch.float64) * 2).to(dtype) if dtype != torch.bool else torch.rand(shape) > 0.5
    mask = None
    if mask_kind == "random" and len(shape) >= 2:
        mask = torch.rand(shape[:2]) > 0.3
    elif mask_kind == "wrong shape":
        mask = torch.ones(shape[0] + 1, 2, dtype=torch.bool)
    elif mask_kind == "floats" and len(shape) >= 2:
        mask = torch.rand(shape[:2])
    return x, mask


def fused_agrees_with_the_reference(kind, kwargs, x, mask, reference, want):
    fused = LAYERS[kind](**kwargs, implementation="fused")
    fused(x, mask=mask, training=False)  # builds it
    fused.set_weights(reference.get_weights())
    got = fused(x, mask=mask, training=False)
    assert got.shape == want.shape
    assert want.dtype in (torch.float32, torch.float64)
    # float32: a few ulps per step over at most 5 steps of at most 5 units, with room to spare
    tolerance = 1e-10 if want.dtype == torch.float64 else 2e-5
    torch.testing.assert_close(got, want, rtol=tolerance, atol=tolerance)
    assert torch.isfinite(want).all() or not torch.isfinite(x.double()).all()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=valid_cases())
def test_valid_arguments_are_accepted_and_the_fused_path_agrees(case):
    """No refusal is excused here: each example is built, run on both paths and compared."""
    kind, kwargs, shape, dtype, mask_kind, seed = case
    x, mask = inputs(shape, dtype, mask_kind, seed)
    reference = LAYERS[kind](**kwargs, implementation="reference")
    want = reference(x, mask=mask, training=False)
    fused_agrees_with_the_reference(kind, kwargs, x, mask, reference, want)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=any_cases())
def test_any_arguments_agree_or_are_refused_by_name(case):
    """Refused with a ValueError/TypeError (never another exception from inside torch), or
    accepted and then the fused path equals the reference."""
    kind, kwargs, shape, dtype, mask_kind, seed = case
    x, mask = inputs(shape, dtype, mask_kind, seed)
    try:
        reference = LAYERS[kind](**kwargs, implementation="reference")
        want = reference(x, mask=mask, training=False)
    except (ValueError, TypeError):
        return
    fused_agrees_with_the_reference(kind, kwargs, x, mask, reference, want)
