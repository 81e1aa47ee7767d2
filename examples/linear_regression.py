"""Linear regression y = a x + b fitted by gradient descent on the mean squared error.

The network is one identity neuron, so its cost is exactly MSE and its gradients are those of
least squares. Each epoch is one full-batch gradient step; the animation linreg.gif (written into
the current folder) shows the line converging on the point cloud.

Needs matplotlib (pip install 'symgrad[plot]'). Run: python examples/linear_regression.py
"""

from pathlib import Path

try:
    import matplotlib
except ImportError:
    raise SystemExit(
        "This example draws its animation with matplotlib: pip install 'symgrad[plot]'"
    ) from None


matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter

import symgrad as sg

spec = sg.load_spec(Path(__file__).with_name("linreg.toml"))  # 1 -> 1 identity, cost mse, SGD
data = sg.load_data("linreg")  # 64 points on y = 2 x - 0.5 plus noise, generated with a seed
X, Y = data.X, data.Y
model = sg.compile(spec.network, spec.optimizer.build())
model.set_params({"W1": [[0.0]], "b1": [0.0]})  # start from the flat line y = 0

lines, losses = [], []
for _ in range(40):
    lines.append((model.params["W1"][0, 0], model.params["b1"][0]))
    losses += model.fit(X, Y, epochs=1, batch_size=len(X), shuffle=False).loss

a, b = model.params["W1"][0, 0], model.params["b1"][0]
(a_ls, b_ls), *_ = np.linalg.lstsq(np.hstack([X, np.ones_like(X)]), Y[:, 0], rcond=None)
print(f"gradient descent: y = {a:.4f} x {b:+.4f}   (MSE {model.loss(X, Y):.5f})")
print(f"least squares:    y = {a_ls:.4f} x {b_ls:+.4f}")
assert abs(a - a_ls) < 1e-2 and abs(b - b_ls) < 1e-2

fig, ax = plt.subplots(figsize=(5, 4))
ax.scatter(X[:, 0], Y[:, 0], s=12, color="tab:blue")
grid = np.array([-1.0, 1.0])
(line,) = ax.plot(grid, 0 * grid, color="tab:red", lw=2)
title = ax.set_title("")


def draw(i: int) -> None:
    slope, icept = lines[i]
    line.set_ydata(slope * grid + icept)
    sign = "-" if icept < 0 else "+"  # y = 2.02 x - 0.49, not "+ -0.49"
    title.set_text(f"epoch {i}: y = {slope:.2f} x {sign} {abs(icept):.2f}, MSE {losses[i]:.3f}")


FuncAnimation(fig, draw, frames=len(lines)).save("linreg.gif", writer=PillowWriter(fps=8))
print("wrote linreg.gif")
