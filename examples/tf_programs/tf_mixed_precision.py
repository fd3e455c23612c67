# Mixed precision as tensorflow.org's guide teaches it, on a recurrent model: a global policy,
# the last softmax in float32, fit, then a custom loop whose loss is scaled by a
# LossScaleOptimizer. bfloat16 runs on CPUs too (the guide's mixed_float16 is for GPUs).
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers, mixed_precision

policy = mixed_precision.Policy("mixed_bfloat16")
mixed_precision.set_global_policy(policy)
print("Compute dtype:", policy.compute_dtype)
print("Variable dtype:", policy.variable_dtype)

rng = np.random.default_rng(0)
x = rng.normal(size=(768, 16, 8)).astype("float32")
y = ((x[:, :, 0].mean(axis=1) > 0).astype("int64") + 2 * (x[:, -1, 1] > 0)).astype("int64")

inputs = keras.Input(shape=(16, 8), name="series")
h = layers.LSTM(64, return_sequences=True)(inputs)
h = layers.LSTM(32)(h)
h = layers.Dense(32, activation="relu", name="dense_1")(h)
h = layers.Dense(4, name="dense_logits")(h)
outputs = layers.Activation("softmax", dtype="float32", name="predictions")(h)
model = keras.Model(inputs=inputs, outputs=outputs)
print("dense_1 policy:", model.get_layer("dense_1").dtype_policy)
print("predictions policy:", model.get_layer("predictions").dtype_policy)

model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.RMSprop(), metrics=["accuracy"])
history = model.fit(x[:512], y[:512], batch_size=64, epochs=3, validation_split=0.2, verbose=2)
test_scores = model.evaluate(x[512:], y[512:], verbose=2)
print("Test loss:", test_scores[0], "Test accuracy:", test_scores[1])
assert model.predict(x[:4], verbose=0).dtype == np.float32  # the float32 softmax

# a custom training loop: the loss scaled before the gradient, apply_gradients unscales it
optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam())
loss_object = keras.losses.SparseCategoricalCrossentropy()
train_dataset = tf.data.Dataset.from_tensor_slices((x[:512], y[:512])).shuffle(512).batch(64)


@tf.function
def train_step(xb, yb):
    with tf.GradientTape() as tape:
        predictions = model(xb, training=True)
        loss = loss_object(yb, predictions)
        scaled_loss = optimizer.scale_loss(loss)
    gradients = tape.gradient(scaled_loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    return loss


for epoch in range(2):
    losses = [float(train_step(xb, yb)) for xb, yb in train_dataset]
    print(f"Epoch {epoch}: mean loss {np.mean(losses):.4f}")
mixed_precision.set_global_policy("float32")
