import os

# Keras is a test oracle here; it runs on its torch backend, the only backend installed.
os.environ.setdefault("KERAS_BACKEND", "torch")
# The thread governor follows the machine's load, and sums split over another number of threads
# round otherwise: the suite's bit-for-bit comparisons (a resumed run against a whole one, two
# seeded runs) keep torch's count fixed, here and in the programs they start. tests/test_threads.py
# turns it on where it is what is tested.
os.environ.setdefault("LSTMKIT_ADAPTIVE_THREADS", "0")
# Layers go to the first GPU when one is there, as in Keras; the suite's oracles (Keras, the
# reference cell) run on the CPU, so its models do too. The placement tests (tests/test_placement.py,
# tests/test_cuda.py) take this away where the automatic choice is what they test.
os.environ.setdefault("LSTMKIT_DEVICE", "cpu")

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(autouse=True)
def _library_settings():
    """A test that sets the device or the dtype policy leaves them as it found them."""
    from lstmkit import config, mixed_precision

    device, gpus, policy = config.requested_device(), config.visible_gpus(), mixed_precision.global_policy()
    yield
    config.set_device(device)
    config.set_visible_gpus(gpus)
    mixed_precision.set_global_policy(policy)
