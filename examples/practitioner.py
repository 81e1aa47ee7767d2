"""Train as a practitioner trains, then ship: validation, accuracy, early stopping, a learning-rate
schedule and checkpoints on the bundled iris flowers, then the model exported to ONNX, a NumPy
module and a C header.

The held-out rows come from the training split (seeded); the test split is looked at once, at
the end. Early stopping watches the validation cost and ends with the best epoch's weights.

Needs onnx for the ONNX file (pip install 'symgrad[export]'). Run: python examples/practitioner.py
"""

from pathlib import Path

try:
    import onnx  # noqa: F401
except ImportError:
    raise SystemExit(
        "This example writes an ONNX file: it needs onnx: pip install 'symgrad[export]'"
    ) from None

import symgrad as sg

spec = sg.load_spec(Path(__file__).with_name("iris.toml"))  # [train] holds the controls below
ds = sg.load_data("iris")
model = sg.compile(spec.network, optimizer=sg.Adam(lr=0.02)).init(seed=0)

hist = model.fit(
    ds.X, ds.Y, epochs=200, batch_size=16, seed=0,
    validation_split=0.2,                        # 24 of the 120 training rows, seeded
    metrics=["accuracy"],                        # computed in compiled code
    early_stopping=sg.EarlyStopping(patience=10),  # watches val_loss, restores the best epoch
    schedule=sg.CosineLR(t_max=200),             # torch's CosineAnnealingLR, stepped each epoch
    checkpoint="iris_ckpt.npz", checkpoint_every=10,
)  # fmt: skip
best = hist.best_epoch
print(f"stopped after {len(hist)} epochs: {hist.stop_reason or 'every epoch ran'}")
print(
    f"best epoch {best + 1}: validation cost {hist.val_loss[best]:.4f}, accuracy {hist.val_accuracy[best]:.1%}"
)
print(f"learning rate from {hist.lr[0]:g} down to {hist.lr[-1]:.4g}")
test = model.evaluate(ds.X_test, ds.Y_test)
print(f"test set: cost {test['loss']:.4f}, accuracy {test['accuracy']:.1%}")
assert test["accuracy"] > 0.85

# Ship it: the format comes from the suffix.
for path in ("iris.onnx", "iris.py", "iris.h"):
    print("wrote", model.export(path))
