# Categorical and sequence features from a dict-shaped dataset: StringLookup and IntegerLookup
# adapted on the data, a two-input functional model fed by name (the extra "id" key is ignored).
import numpy as np
import tensorflow as tf

rng = np.random.default_rng(2)
n = 800
cities = rng.choice(["paris", "tokyo", "lima", "oslo"], size=n)
stores = rng.choice([12, 40, 77], size=n)
history = rng.normal(size=(n, 10, 1)).astype("float32")
label = ((cities == "tokyo") | (history[:, -3:, 0].mean(axis=1) > 0.3)).astype("float32")
city_lookup = tf.keras.layers.StringLookup(output_mode="one_hot")
city_lookup.adapt(cities)
store_lookup = tf.keras.layers.IntegerLookup(output_mode="one_hot")
store_lookup.adapt(stores)
print(city_lookup.get_vocabulary(), store_lookup.get_vocabulary())
features = {"city": city_lookup(cities).numpy(), "store": store_lookup(stores).numpy(), "history": history,
            "id": np.arange(n)}
ds = tf.data.Dataset.from_tensor_slices((features, label)).shuffle(n).batch(32)
city_in = tf.keras.Input(shape=(city_lookup.vocabulary_size(),), name="city")
store_in = tf.keras.Input(shape=(store_lookup.vocabulary_size(),), name="store")
history_in = tf.keras.Input(shape=(10, 1), name="history")
merged = tf.keras.layers.concatenate([city_in, store_in, tf.keras.layers.LSTM(8)(history_in)])
output = tf.keras.layers.Dense(1, activation="sigmoid")(tf.keras.layers.Dense(16, activation="relu")(merged))
model = tf.keras.Model(inputs={"city": city_in, "store": store_in, "history": history_in}, outputs=output)
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(ds, epochs=5)
print(model.predict(ds.take(1)).shape)
