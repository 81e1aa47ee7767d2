"""PyTorch parity: symgrad's gradients and SGD step equal PyTorch's, layer by layer.

nn.Sequential(Linear(16, 8), Linear(8, 4), Linear(4, 2)) with CrossEntropyLoss is, in symgrad's
terms, a 16-8-4-2 network with identity hidden layers, a softmax output and the cross-entropy
cost (which PyTorch applies to the logits z^(L)). Same weights, same batch: every .grad equals
symgrad's gradient, and one manual update w - lr * grad equals symgrad's SGD step.

Needs PyTorch (pip install torch). Run: python examples/pytorch_parity.py
"""

from pathlib import Path

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:
    raise SystemExit("This example compares with PyTorch: pip install torch") from None

import symgrad as sg

torch.manual_seed(0)
layers = nn.Sequential(nn.Linear(16, 8), nn.Linear(8, 4), nn.Linear(4, 2)).double()
X = torch.randn(32, 16, dtype=torch.float64)
labels = torch.randint(0, 2, (32,))
loss = nn.CrossEntropyLoss()(layers(X), labels)
loss.backward()

params = {}  # symgrad's names for PyTorch's tensors: W1 is layers[0].weight, b1 its bias, ...
for i, lin in enumerate(layers, 1):
    params[f"W{i}"], params[f"b{i}"] = lin.weight, lin.bias

spec = sg.load_spec(Path(__file__).with_name("parity.toml"))  # 16-8-4-2, softmax, cross_entropy
lr = spec.optimizer.settings["lr"]
model = sg.compile(spec.network, sg.SGD(lr=lr))
model.set_params({name: t.detach().numpy() for name, t in params.items()})
x, y = X.numpy(), labels.numpy()  # integer class labels, as CrossEntropyLoss takes them

print(f"loss: torch {loss.item():.12f}, symgrad {model.loss(x, y):.12f}")
assert np.isclose(model.loss(x, y), loss.item(), rtol=1e-12)

grads = model.gradients(x, y)
for name, t in params.items():
    err = np.abs(grads[name] - t.grad.numpy()).max()
    print(f"{name}: shape {tuple(t.shape)}, max |symgrad - torch .grad| = {err:.1e}")
    np.testing.assert_allclose(grads[name], t.grad.numpy(), rtol=1e-10, atol=1e-13)

# One SGD step on the whole batch, against w - lr * grad by hand.
model.fit(x, y, epochs=1, batch_size=len(x), shuffle=False)
with torch.no_grad():
    for name, t in params.items():
        np.testing.assert_allclose(
            model.params[name], (t - lr * t.grad).numpy(), rtol=1e-12, atol=1e-14
        )
print(f"one SGD step (lr = {lr}): every parameter equals w - lr * grad")
