"""The Keras- and TensorFlow-facing shell around lstmkit's core.

Everything that exists only so that programs written for Keras 2, tf.keras, Keras 3 or
TensorFlow 2 run unchanged lives here, above the core (models, training, layers, kernels, cells
know nothing of it):

- `keras_alias`: the import hook (`import keras` / `tensorflow.keras` / Keras 2's module paths
  give lstmkit's modules, `import tensorflow` gives `compat.tf`);
- `programs`: `lstmkit run program.py` (the program as `__main__` with the hook on);
- `numpy_aliases`: NumPy's removed `np.float`, `np.int`, ... for old programs run that way;
- `backend` (`keras.backend`) and `ops` (`keras.ops`): tensor functions on torch;
- `tf`: the subset of TensorFlow 2 that recurrent-network tutorials call, on torch and numpy.
"""
