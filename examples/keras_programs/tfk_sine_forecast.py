# A tf.keras blog program: `import tensorflow as tf` only for tf.keras, windows of a sine wave,
# stacked LSTMs, EarlyStopping and a ModelCheckpoint to an .h5 file that is loaded back.
import numpy as np
import tensorflow as tf
from tensorflow.keras.models import Sequential, load_model
from tensorflow.keras.layers import LSTM, Dense, Dropout
from tensorflow.keras.callbacks import EarlyStopping, ModelCheckpoint

series = np.sin(np.arange(0, 100, 0.1)).astype("float32")
look_back = 20
X = np.array([series[i:i + look_back] for i in range(len(series) - look_back)])[..., np.newaxis]
y = series[look_back:]
split = int(len(X) * 0.8)
model = Sequential([
    LSTM(50, return_sequences=True, input_shape=(look_back, 1)),
    Dropout(0.2),
    LSTM(50),
    Dense(1),
])
model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.001), loss="mse")
history = model.fit(X[:split], y[:split], epochs=20, batch_size=32, validation_data=(X[split:], y[split:]),
                    callbacks=[EarlyStopping(patience=3, restore_best_weights=True),
                               ModelCheckpoint("best.h5", save_best_only=True)])
best = load_model("best.h5")
print("Test MSE:", float(np.mean((best.predict(X[split:]).ravel() - y[split:]) ** 2)))
