"""XOR: the smallest problem one neuron cannot solve, learned by a 2-3-1 network.

Loads examples/xor.toml, derives the gradient of one weight, generates and compiles the
training code, trains it and prints the four predictions.

Run: python examples/xor.py
"""

from pathlib import Path

import numpy as np

import symgrad as sg

spec = sg.load_spec(Path(__file__).with_name("xor.toml"))
net, train = spec.network, spec.train
print(net.describe())

# With a sigmoid output and binary cross-entropy, delta^(2) = a - y: the chain rule for one weight.
print(sg.derive(net).to_text(param="W2", index=(0, 0), equations=False))

data = sg.load_data("xor", network=net)
model = sg.compile(net, spec.optimizer.build(), train.dtype)
model.init(seed=train.seed)
history = model.fit(
    data.X, data.Y, epochs=train.epochs, batch_size=train.batch_size, seed=train.seed
)
print(f"loss: epoch 1 {history.loss[0]:.4f} -> epoch {len(history.loss)} {history.loss[-1]:.4f}")

predictions = model.predict(data.X)
for x, y, p in zip(data.X, data.Y, predictions, strict=True):
    print(f"x = {x}, target {y[0]:.0f}, prediction {p[0]:.3f}")
assert np.array_equal(predictions > 0.5, data.Y > 0.5)
assert sg.data.accuracy(predictions, data.Y) == 1.0
