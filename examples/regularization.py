"""L2 regularisation, seen in one weight's partial derivative and in what the network learns.

Nielsen's chapter 3 adds lam/2 sum w^2 to the cost: C = C_0 + lam/2 sum w^2. The chain rule
still reaches the data cost C_0 through z; the penalty reaches C directly, so every weight's
partial gains one step, dC/dw = dC_0/dw + lam w. Prints that step with one example's numbers,
then fits a noisy XOR with and without the penalty: without it the network learns the noise.

Run: python examples/regularization.py
"""

import numpy as np

import symgrad as sg

net = sg.Network.mlp(
    [2, 32, 1], hidden="tanh", output="sigmoid", cost="binary_cross_entropy",
    regularization=sg.L2(0.003),
)  # fmt: skip

# One weight's partial with one example's numbers in every factor: its last step is the
# penalty's, lam * w added to the chain rule's dC_0/dw.
model = sg.compile(net, sg.Adam(lr=0.02)).init(seed=0)
explained = sg.derive(net).explain([0.5, -1.0], [1.0], model.params, param="W2", index=(0, 3))
print(explained.to_text().split("* Partial 1")[1])

# 100 training points of XOR with 10% of the labels flipped; 2,000 clean points to test on.
rng = np.random.default_rng(0)
X, X_test = rng.normal(0.0, 1.0, (100, 2)), rng.normal(0.0, 1.0, (2000, 2))
Y = ((X[:, 0] * X[:, 1] > 0) ^ (rng.random(100) < 0.1)).astype(float)
Y_test = (X_test[:, 0] * X_test[:, 1] > 0).astype(float)

plain = sg.Network.mlp([2, 32, 1], "tanh", "sigmoid", "binary_cross_entropy")
results = {}
for name, m in (("L2(0.003)", model), ("no penalty", sg.compile(plain, sg.Adam(lr=0.02)))):
    m.init(seed=0).fit(X, Y, epochs=1000, batch_size=20, seed=0)
    size = float(np.sqrt(sum((w**2).sum() for k, w in m.params.items() if k.startswith("W"))))
    train, test = m.loss(X, Y, regularized=False), m.loss(X_test, Y_test, regularized=False)
    results[name] = test
    print(f"{name:>10}: data cost C_0 {train:.3f} on the training set, {test:.3f} on the test")
    print(f"{'':>10}  set; size of the weights |W| = {size:.1f}")

# The penalty keeps the weights small, fits the training set less closely, and tests better.
assert results["L2(0.003)"] < results["no penalty"]
