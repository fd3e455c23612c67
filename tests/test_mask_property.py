"""Property: a masked sequence ends where the same sequence with the masked steps removed ends."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lstmkit.layers as L

LAYERS = {"LSTM": L.LSTM, "GRU": L.GRU, "SimpleRNN": L.SimpleRNN, "CuDNNLSTM": L.CuDNNLSTM}


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(sorted(LAYERS)),
    masks=st.lists(st.lists(st.booleans(), min_size=6, max_size=6), min_size=1, max_size=4),
    go_backwards=st.booleans(),
    units=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_masked_steps_are_skipped(kind, masks, go_backwards, units, seed):
    torch.manual_seed(seed)
    layer = LAYERS[kind](units, return_state=True, go_backwards=go_backwards).double()
    mask = torch.tensor(masks)
    x = torch.randn(len(masks), 6, 3, dtype=torch.float64)
    _, *states = layer(x, mask=mask)
    for b in range(len(masks)):
        kept = x[b : b + 1, mask[b]]
        if kept.shape[1] == 0:
            expected = [torch.zeros(1, units, dtype=torch.float64)] * len(states)
        else:
            _, *expected = layer(kept)
        for got, want in zip(states, expected):
            torch.testing.assert_close(got[b : b + 1], want, rtol=1e-10, atol=1e-10)
