"""A digits classifier: 8x8 handwritten digits, 64 -> 32 tanh -> 10 softmax, cross-entropy.

Loads examples/digits.toml and the bundled UCI digits (split 80/20 with the spec's seed),
trains with momentum, prints the test accuracy and writes the loss curve to digits_loss.png in
the current folder.

Needs matplotlib (pip install 'symgrad[plot]'). Run: python examples/digits.py
"""

from pathlib import Path

try:
    import matplotlib
except ImportError:
    raise SystemExit(
        "This example draws the loss curve: it needs matplotlib: pip install 'symgrad[plot]'"
    ) from None

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import symgrad as sg
from symgrad.io.data import accuracy

spec = sg.load_spec(Path(__file__).with_name("digits.toml"))
net, train = spec.network, spec.train
data = sg.load_data("digits", network=net, seed=train.seed)
print(f"{net.describe()}; {data.description}")

model = sg.compile(net, spec.optimizer.build(), train.dtype)
model.init(seed=train.seed)
history = model.fit(
    data.X, data.Y, epochs=train.epochs, batch_size=train.batch_size, seed=train.seed,
    validation=(data.X_test, data.Y_test),
)  # fmt: skip

train_acc = accuracy(model.predict(data.X), data.Y)
test_acc = accuracy(model.predict(data.X_test), data.Y_test)
print(f"train accuracy {train_acc:.1%}, test accuracy {test_acc:.1%}")
assert test_acc > 0.9

fig, ax = plt.subplots(figsize=(6, 4))
epochs = range(1, len(history.loss) + 1)
ax.plot(epochs, history.loss, label="training cost")
ax.plot(epochs, history.val_loss, label="test cost")
ax.set_xlabel("epoch")
ax.set_ylabel("mean cross-entropy")
ax.set_yscale("log")
ax.set_title(f"digits: test accuracy {test_acc:.1%}")
ax.legend()
fig.tight_layout()
fig.savefig("digits_loss.png", dpi=100)
print("wrote digits_loss.png")
