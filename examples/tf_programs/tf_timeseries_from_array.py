# keras.io's weather-forecasting way: normalise features, timeseries_dataset_from_array for the
# training and validation windows, an LSTM, ModelCheckpoint and EarlyStopping.
import numpy as np
import tensorflow as tf
from tensorflow import keras

rng = np.random.default_rng(7)
hours = np.arange(6000)
temperature = 10 + 8 * np.sin(hours * 2 * np.pi / 24) + rng.normal(0, 1, len(hours))
pressure = 1000 + 5 * np.cos(hours * 2 * np.pi / 240) + rng.normal(0, 0.5, len(hours))
features = np.stack([temperature, pressure], axis=1).astype("float32")
train_split = int(0.7 * len(features))
mean, std = features[:train_split].mean(axis=0), features[:train_split].std(axis=0)
features = (features - mean) / std
past, future, step, batch_size = 120, 12, 6, 64
sequence_length = int(past / step)
x_train, y_train = features[:train_split], features[past + future:train_split + past + future, :1]
dataset_train = keras.preprocessing.timeseries_dataset_from_array(
    x_train, y_train, sequence_length=sequence_length, sampling_rate=step, batch_size=batch_size)
x_val = features[train_split:-(past + future)]
y_val = features[train_split + past + future:, :1]
dataset_val = keras.preprocessing.timeseries_dataset_from_array(
    x_val, y_val, sequence_length=sequence_length, sampling_rate=step, batch_size=batch_size)
for batch in dataset_train.take(1):
    inputs, targets = batch
print("Input shape:", inputs.numpy().shape, "Target shape:", targets.numpy().shape)
inputs = keras.layers.Input(shape=(inputs.shape[1], inputs.shape[2]))
lstm_out = keras.layers.LSTM(32)(inputs)
outputs = keras.layers.Dense(1)(lstm_out)
model = keras.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mse")
model.summary()
es_callback = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=3)
modelckpt_callback = keras.callbacks.ModelCheckpoint(monitor="val_loss", filepath="model_checkpoint.weights.h5",
                                                     verbose=1, save_weights_only=True, save_best_only=True)
history = model.fit(dataset_train, epochs=5, validation_data=dataset_val, callbacks=[es_callback, modelckpt_callback])
for x, y in dataset_val.take(2):
    print("true", y[0].numpy(), "predicted", model.predict(x)[0])
