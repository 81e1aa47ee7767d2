"""A user-defined activation from a formula: its derivative, its derivation and its training.

mish(z) = z * tanh(softplus(z)) is not built in: it is declared as a formula, either in a spec
(examples/mish.toml) or with sg.Activation.from_formula. SymPy differentiates it; the network
is derived and trained like any other.

Run: python examples/custom_activation.py
"""

from pathlib import Path

import symgrad as sg
from symgrad.io.data import accuracy

mish = sg.Activation.from_formula("mish", "z*tanh(softplus(z))")
print(f"mish(z)  = {mish.expr}")
print(f"mish'(z) = {mish.derivative}")

# The same activation, declared in a spec file; the formula is parsed by a whitelist, never eval'd.
spec = sg.load_spec(Path(__file__).with_name("mish.toml"))
net, train = spec.network, spec.train
print(net.describe())
assert net.layers[0].act.expr == mish.expr

# Its derivative appears as one local step of the chain rule.
d = sg.derive(net)
print(d.to_text(param="W1", index=(0, 0), equations=False))
assert d.check(numeric_points=1, symbolic=False).ok  # steps agree with finite differences

data = sg.load_data("iris", network=net, seed=train.seed)
model = sg.compile(net, spec.optimizer.build(), train.dtype)
model.init(seed=train.seed)
history = model.fit(
    data.X, data.Y, epochs=train.epochs, batch_size=train.batch_size, seed=train.seed
)
test_acc = accuracy(model.predict(data.X_test), data.Y_test)
print(f"loss {history.loss[0]:.3f} -> {history.loss[-1]:.3f}; test accuracy {test_acc:.1%}")
assert test_acc > 0.85

# A formula that is not a whitelisted function is refused with a SpecError, never run.
try:
    sg.Activation.from_formula("evil", "__import__('os').system('echo hi')")
except sg.SpecError as exc:
    print(f"refused: {exc}")
