# The tensor functions a "TensorFlow basics" chapter shows, then used around an RNN: constants,
# reshapes, reductions, one_hot, gather, where, top_k, Variables and tf.config.
import numpy as np
import tensorflow as tf

print("TensorFlow", tf.__version__, "eager:", tf.executing_eagerly())
gpus = tf.config.list_physical_devices("GPU")
for gpu in gpus:
    tf.config.experimental.set_memory_growth(gpu, True)
print("GPUs:", len(gpus))
a = tf.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
print(tf.shape(a).numpy(), tf.rank(a).numpy(), tf.size(a).numpy(), a.dtype == tf.float32)
print(tf.reduce_sum(a).numpy(), tf.reduce_mean(a, axis=1).numpy(), tf.reduce_max(a, axis=0, keepdims=True).numpy())
print(tf.transpose(a).numpy().tolist(), tf.reshape(a, [3, -1]).shape, tf.expand_dims(a, 0).shape)
print(tf.concat([a, a], axis=0).shape, tf.stack([a, a], axis=-1).shape, [t.shape for t in tf.unstack(a)])
print(tf.one_hot([0, 2, 5], depth=3).numpy().tolist(), tf.gather(a, [1, 0]).numpy().tolist())
print(tf.where(a > 2.5, a, tf.zeros_like(a)).numpy().tolist(), tf.argmax(a, axis=1).numpy())
print(tf.matmul(a, a, transpose_b=True).numpy().tolist(), tf.cast(tf.constant([1.7, -1.7]), tf.int32).numpy())
print(tf.math.top_k(tf.constant([1.0, 9.0, 3.0, 7.0]), k=2).indices.numpy(), tf.nn.relu([-1.0, 2.0]).numpy())
print(tf.split(tf.range(10), [2, 3, -1])[2].numpy(), tf.tile(tf.constant([[1, 2]]), [2, 2]).numpy().tolist())
v = tf.Variable(tf.zeros([2]))
v.assign_add([1.0, 2.0])
print("variable", v.numpy(), tf.linspace(0.0, 1.0, 5).numpy())
ta = tf.TensorArray(tf.float32, size=3)
for i in range(3):
    ta = ta.write(i, tf.fill([2], float(i)))
print("tensor array", ta.stack().numpy().tolist())
spectrum = tf.abs(tf.signal.rfft(tf.sin(tf.linspace(0.0, 50.0, 64))))
print("strongest frequency bin", int(tf.argmax(spectrum)))
x = tf.random.normal([256, 8, 2], seed=4)
y = tf.cast(tf.reduce_sum(x[:, :, 0], axis=1) > 0, tf.float32)
model = tf.keras.Sequential([tf.keras.layers.SimpleRNN(8, input_shape=(8, 2)), tf.keras.layers.Dense(1, activation="sigmoid")])
model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
model.fit(x.numpy(), y.numpy(), epochs=3, batch_size=32, verbose=2)
print(tf.squeeze(model(x[:3])).numpy().shape)
