"""A lesson page: five steps of gradient descent on XOR, shown forward, backward and update.

Writes lesson.html into the current folder. Open it in a browser and press "next" (or the right
arrow key): the forward pass lights up node by node, the backward pass edge by edge with each
local derivative and the running dC/dnode, then every weight moves by w <- w - lr dC/dw.
"""

import numpy as np

import symgrad as sg

net = sg.Network.mlp([2, 3, 1], hidden="sigmoid", output="sigmoid", cost="quadratic")
X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([[0.0], [1.0], [1.0], [0.0]])

lesson = sg.lesson(net, X, Y, steps=5, lr=0.5, seed=0)
lesson.write("lesson.html")

# the numbers on the page are these: one example per step, plain gradient descent
for t, step in enumerate(lesson.steps, start=1):
    print(
        f"step {t}: row {step.row}, cost of the example {step.cost:.4f} -> {step.cost_after:.4f}, "
        f"|dC/dW1| = {np.linalg.norm(step.grads['W1']):.4f}, mean cost {step.data_cost:.4f}"
    )
print(f"wrote lesson.html ({len(lesson.frames)} views)")
