"""Gradient descent on a function of one variable, with the local linear approximation at each step.

f(x) = (x - 2)**2 + 1 has its minimum at x = 2 and f'' = 2, so x <- x - lr f'(x) converges for
0 < lr < 1: lr = 0.3 gets there in a few steps, lr = 0.02 crawls, and lr = 1.05 overshoots the
minimum further at every step. At each iterate the tangent line f(x_t) + f'(x_t) (x - x_t)
predicts the change of f: -lr f'(x_t)**2. Writes one plot per learning rate into the current folder.

Needs matplotlib (pip install 'symgrad[plot]'). Run: python examples/gradient_descent.py
"""

try:
    import matplotlib  # noqa: F401
except ImportError:
    raise SystemExit(
        "This example draws its plots with matplotlib: pip install 'symgrad[plot]'"
    ) from None

import symgrad as sg

FORMULA = "(x - 2)**2 + 1"

runs = {
    "converges": sg.descend(FORMULA, x0=-1.0, lr=0.3, steps=12),
    "too small": sg.descend(FORMULA, x0=-1.0, lr=0.02, steps=12),
    "overshoots": sg.descend(FORMULA, x0=-1.0, lr=1.05, steps=12),
}

for label, run in runs.items():
    print(f"--- lr = {run.lr}: {label}")
    print(run.table(digits=4))
    slope, intercept = run.tangent(0)
    print(f"tangent at x0 = {run.xs[0]}: y = {slope:.3g} x + {intercept:.3g}\n")
    path = run.plot(f"descent_lr_{run.lr}.png")
    print(f"wrote {path}\n")

good, slow, wild = runs.values()
assert abs(good.xs[-1] - 2) < 1e-3  # converged to the minimum
assert abs(slow.xs[-1] - 2) > 1  # still far away after the same number of steps
assert abs(wild.xs[-1] - 2) > abs(wild.xs[0] - 2)  # each step lands further away
