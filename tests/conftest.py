import os

# Keras is a test oracle here; it runs on its torch backend, the only backend installed.
os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
    yield
