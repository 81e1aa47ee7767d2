"""3Blue1Brown's chain, shared by the teaching tests: one unit per layer, x -> a1 -> a2 -> a3 -> C."""

from __future__ import annotations

import numpy as np

import symgrad as sg

CHAIN_PARAMS = {
    "W1": np.array([[0.8]]),
    "b1": np.array([0.1]),
    "W2": np.array([[-0.4]]),
    "b2": np.array([0.2]),
    "W3": np.array([[1.2]]),
    "b3": np.array([-0.3]),
}
CHAIN_X, CHAIN_Y = 1.5, 1.0


def chain_net() -> sg.Network:
    return sg.Network.mlp(
        [1, 1, 1, 1], hidden="sigmoid", output="sigmoid", cost="quadratic", name="chain"
    )
