import os

# Keras is a test oracle here; it runs on its torch backend, the only backend installed.
os.environ.setdefault("KERAS_BACKEND", "torch")
# The thread governor follows the machine's load, and sums split over another number of threads
# round otherwise: the suite's bit-for-bit comparisons (a resumed run against a whole one, two
# seeded runs) keep torch's count fixed, here and in the programs they start. tests/test_threads.py
# turns it on where it is what is tested.
os.environ.setdefault("LSTMKIT_ADAPTIVE_THREADS", "0")

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
    yield
