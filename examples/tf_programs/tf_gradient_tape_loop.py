# A custom training loop as books and tensorflow.org write it: a tf.data pipeline, GradientTape,
# apply_gradients, stateful metrics reset each epoch, and a tf.function step.
import numpy as np
import tensorflow as tf

tf.random.set_seed(1)
n, steps, features, classes = 512, 20, 3, 4
x = np.random.randn(n, steps, features).astype("float32")
y = (x[:, :, 0].sum(axis=1) > 0).astype("int64") + 2 * (x[:, -1, 1] > 0)
train_dataset = tf.data.Dataset.from_tensor_slices((x[:400], y[:400])).shuffle(400).batch(32)
val_dataset = tf.data.Dataset.from_tensor_slices((x[400:], y[400:])).batch(64)
inputs = tf.keras.Input(shape=(steps, features))
h = tf.keras.layers.LSTM(32)(inputs)
outputs = tf.keras.layers.Dense(classes)(h)
model = tf.keras.Model(inputs, outputs)
optimizer = tf.keras.optimizers.Adam(learning_rate=1e-2)
loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
train_acc_metric = tf.keras.metrics.SparseCategoricalAccuracy()
val_acc_metric = tf.keras.metrics.SparseCategoricalAccuracy()
train_loss = tf.keras.metrics.Mean(name="train_loss")


@tf.function
def train_step(x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_value = loss_fn(y, logits)
    grads = tape.gradient(loss_value, model.trainable_weights)
    grads, _ = tf.clip_by_global_norm(grads, 5.0)
    optimizer.apply_gradients(zip(grads, model.trainable_weights))
    train_acc_metric.update_state(y, logits)
    train_loss.update_state(loss_value)
    return loss_value


@tf.function
def test_step(x, y):
    val_logits = model(x, training=False)
    val_acc_metric.update_state(y, val_logits)


epochs = 4
for epoch in range(epochs):
    for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
        loss_value = train_step(x_batch_train, y_batch_train)
        if step % 5 == 0:
            print(f"Training loss (for one batch) at step {step}: {float(loss_value):.4f}")
    train_acc = train_acc_metric.result()
    print(f"Epoch {epoch}: training acc {float(train_acc):.4f}, mean loss {train_loss.result().numpy():.4f}")
    train_acc_metric.reset_state()
    train_loss.reset_state()
    for x_batch_val, y_batch_val in val_dataset:
        test_step(x_batch_val, y_batch_val)
    print(f"Validation acc: {float(val_acc_metric.result()):.4f}")
    val_acc_metric.reset_states()
probabilities = tf.nn.softmax(model(x[400:405]), axis=-1)
print(tf.argmax(probabilities, axis=1).numpy(), y[400:405])
