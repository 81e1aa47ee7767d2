"""Bad declarations raise SpecError with a message that says what to change; round trips."""

from __future__ import annotations

import json

import pytest

import symgrad as sg


@pytest.mark.parametrize(
    ("declare", "match"),
    [
        # sizes that do not chain
        (
            lambda: sg.Network([sg.Dense(2, 3), sg.Dense(4, 1)]),
            r"layer 2 expects 4 inputs, layer 1 gives 3: make them equal",
        ),
        # non-positive or non-integer sizes
        (lambda: sg.Dense(0, 3), r"Dense n_in must be a positive whole number, got 0"),
        (lambda: sg.Dense(2, -1), r"Dense n_out must be a positive whole number, got -1"),
        (lambda: sg.Dense(2.5, 1), r"Dense n_in must be a positive whole number, got 2\.5"),
        (lambda: sg.Dense(True, 1), r"Dense n_in must be a positive whole number, got True"),
        (lambda: sg.Dense(2, 1, bias="yes"), r"Dense bias must be True or False"),
        # bad Network.mlp sizes
        (
            lambda: sg.Network.mlp([2]),
            r"sizes must list at least the input and output sizes, e\.g\. \[2, 3, 1\]",
        ),
        (lambda: sg.Network.mlp([2, 0, 1]), r"Dense n_out must be a positive whole number, got 0"),
        (
            lambda: sg.Network.mlp([2, 3, -1]),
            r"Dense n_out must be a positive whole number, got -1",
        ),
        (lambda: sg.Network([]), r"a network needs at least one layer"),
        (lambda: sg.Network(sg.Dense(2, 1)), r"layers must be a list of Dense layers"),
        (lambda: sg.Network([sg.Dense(2, 1), "dense"]), r"layer 2 must be a Dense layer, got str"),
        # unknown activation and cost
        (
            lambda: sg.Dense(2, 3, "swishy"),
            r"unknown activation 'swishy'; use one of .*sigmoid.*or Activation\.from_formula",
        ),
        (
            lambda: sg.Network.mlp([2, 1], cost="hinge"),
            r"unknown cost 'hinge'; use one of .*quadratic.*or Cost\.from_formula",
        ),
        # a log-based cost after an output that is not a probability
        (
            lambda: sg.Network.mlp([2, 3, 3], output="relu", cost="cross_entropy"),
            r"cost 'cross_entropy' takes the log of the output.*use output 'softmax' or 'sigmoid' instead of 'relu'",
        ),
        # -sum y log a under a sigmoid is not the binary cross-entropy that BCELoss means
        (
            lambda: sg.Network.mlp([2, 3, 1], output="sigmoid", cost="cross_entropy"),
            r"with 'sigmoid' it is not the binary cross-entropy.*'binary_cross_entropy'.*"
            r"Cost\.from_formula\('nll', '-y\*log\(a\)'\)",
        ),
        (
            lambda: sg.Network.mlp([2, 3, 2], output="sigmoid", cost="cross_entropy"),
            r"binary_cross_entropy",
        ),
        # a user formula may not take a built-in's name: special paths would take it for that one
        (
            lambda: sg.Activation.from_formula("sigmoid", "0.5*sigmoid(z)+0.25"),
            r"activation name 'sigmoid' is built in; give your formula another name",
        ),
        (
            lambda: sg.Activation.from_formula("softmax", "exp(z)"),
            r"activation name 'softmax' is built in",
        ),
        (
            lambda: sg.Cost.from_formula("cross_entropy", "-y*log(a)"),
            r"cost name 'cross_entropy' is built in",
        ),
        (lambda: sg.Activation.from_formula("swish\nimport os", "z"), r"must be an identifier"),
        (
            lambda: sg.Network.mlp([2, 1], output="identity", cost="binary_cross_entropy"),
            r"cost 'binary_cross_entropy' takes the log.*instead of 'identity'",
        ),
        (
            lambda: sg.Network.mlp(
                [2, 1], output="tanh", cost=sg.Cost.from_formula("nll", "-y*log(a)")
            ),
            r"cost 'nll' takes the log of the output.*instead of 'tanh'",
        ),
        # softmax only at the output, and with at least two units
        (
            lambda: sg.Network.mlp([2, 3, 1], hidden="softmax"),
            r"layer 1 uses softmax, which is only supported in the output layer",
        ),
        (
            lambda: sg.Network.mlp([2, 1], output="softmax", cost="cross_entropy"),
            r"a softmax output needs at least 2 units; use 'sigmoid'",
        ),
        # formulas: unknown name, attribute access, step functions
        (
            lambda: sg.Activation.from_formula("f", "z + q"),
            r"unknown name 'q'; the formula may use 'z', pi and e",
        ),
        (
            lambda: sg.Activation.from_formula("f", "z.real"),
            r"attribute access '\.real' is not allowed; write plain function names",
        ),
        (
            lambda: sg.Cost.from_formula("c", "(a - y).conjugate()"),
            r"attribute access '\.conjugate' is not allowed",
        ),
        (
            lambda: sg.Activation.from_formula("perceptron", "heaviside(z)"),
            r"heaviside\(\) is a step function.*use a smooth one such as sigmoid",
        ),
        (
            lambda: sg.Activation.from_formula("perceptron", "(sign(z) + 1)/2"),
            r"sign\(\) is a step function",
        ),
        (
            lambda: sg.Activation.from_formula("threshold", "(z + abs(z))/(2*abs(z))"),
            r"piecewise constant.*use a smooth one",
        ),
        (
            lambda: sg.Activation.from_formula("f", "3"),
            r"does not depend on 'z'; write a formula in z",
        ),
        (
            lambda: sg.Activation.from_formula("1f", "z"),
            r"activation name '1f' must be an identifier",
        ),
        (lambda: sg.Cost.from_formula("c", "y**2"), r"cost 'c' = 'y\*\*2' does not depend on 'a'"),
        (
            lambda: sg.Cost.from_formula("c", "a * q"),
            r"unknown name 'q'; the formula may use 'a', 'y', pi and e",
        ),
    ],
)
def test_bad_declaration_says_what_to_change(declare, match: str) -> None:
    with pytest.raises(sg.SpecError, match=match):
        declare()


def test_spec_error_is_a_value_error_and_a_symgrad_error() -> None:
    with pytest.raises(ValueError):
        sg.Dense(0, 1)
    assert issubclass(sg.SpecError, sg.SymgradError)


@pytest.fixture(scope="module")
def d() -> sg.Derivation:
    return sg.derive(sg.Network.mlp([2, 3, 1], hidden="tanh", output="sigmoid"))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("W3", 0, 0), r"unknown parameter 'W3'; this network has W1, b1, W2, b2"),
        (("V1", 0, 0), r"unknown parameter 'V1'"),
        (("w1", 0, 0), r"unknown parameter 'w1'; this network has W1"),
        (("W1", 3, 0), r"layer 1 has units 0\.\.2; unit 3 does not exist"),
        (("W1", 0, 2), r"layer 0 has units 0\.\.1; unit 2 does not exist"),
        (("b2", 1), r"layer 2 has units 0\.\.0; unit 1 does not exist"),
        (("b1", -1), r"unit -1 does not exist"),
        (("W1", 0), r"'W1' takes 2 indexes, got 1"),
        (("W1", 0, 1.0), r"indices of 'W1' must be whole numbers"),
    ],
)
def test_bad_partial_requests(d: sg.Derivation, args: tuple, match: str) -> None:
    with pytest.raises(sg.SpecError, match=match):
        d.partial(*args)


def test_bias_free_layer_has_no_bias_partial() -> None:
    d = sg.derive(sg.Network([sg.Dense(1, 1, "identity", bias=False)], cost="mse"))
    with pytest.raises(sg.SpecError, match=r"unknown parameter 'b1'; this network has W1"):
        d.partial("b1", 0)


def test_round_trip_with_user_formulas() -> None:
    swish = sg.Activation.from_formula("my_swish", "z*sigmoid(z)")
    logcosh = sg.Cost.from_formula("logcosh", "log(cosh(a - y))")
    net = sg.Network(
        [sg.Dense(2, 4, swish), sg.Dense(4, 3, "tanh", bias=False), sg.Dense(3, 1, "identity")],
        cost=logcosh,
        name="demo",
    )
    data = json.loads(json.dumps(net.to_dict()))  # plain JSON-able data
    back = sg.Network.from_dict(data)
    assert back.to_dict() == net.to_dict()
    assert back.sizes == (2, 4, 3, 1) and back.name == "demo"
    assert [layer.bias for layer in back.layers] == [True, False, True]
    assert back.layers[0].act.formula == "z*sigmoid(z)"
    assert back.layers[0].act.expr == swish.expr
    assert back.cost.expr == logcosh.expr and back.cost.formula == "log(cosh(a - y))"


def test_round_trip_builtins() -> None:
    net = sg.Network.mlp([4, 5, 3], hidden="relu", output="softmax", cost="cross_entropy")
    back = sg.Network.from_dict(net.to_dict())
    assert back.to_dict() == net.to_dict()
    assert back.describe() == "4 -> 5 relu -> 3 softmax, cost cross_entropy"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([1, 2], r"network declaration must be a mapping"),
        ({"sizes": [2, 1]}, r"network declaration lacks 'activations'"),
        (
            {"sizes": [2, 1], "activations": ["sigmoid", "tanh"], "cost": "mse"},
            r"activations must list 1 names",
        ),
        # a weights file is untrusted: as strict as a TOML spec, before anything is built
        ({"sizes": [2, True], "activations": ["tanh"], "cost": "mse"}, r"sizes must be"),
        ({"sizes": [2, 10**12], "activations": ["tanh"], "cost": "mse"}, r"sizes must be"),
        ({"sizes": [2] * 1002, "activations": ["tanh"] * 1001, "cost": "mse"}, r"sizes must be"),
        ({"sizes": [2, 1], "activations": [3], "cost": "mse"}, r"activations\[0\]"),
        ({"sizes": [2, 1], "activations": ["tanh"], "cost": "mse", "bias": [1]}, r"bias"),
        ({"sizes": [2, 1], "activations": ["tanh"], "cost": "mse", "extra": 1}, r"unknown field"),
        ({"sizes": [2, 1], "activations": ["tanh"], "cost": "mse", "name": "a\nb"}, r"name"),
        (
            {"sizes": [2, 1], "activations": ["tanh"], "cost": "mse", "user_costs": {"c": 3}},
            r"user_costs\['c'\] must be a formula",
        ),
        (
            {"sizes": [2, 1], "activations": ["tanh"], "cost": "mse", "user_costs": []},
            r"user_costs must map",
        ),
        (
            {"sizes": [2, 1], "activations": ["swishy"], "cost": "mse"},
            r"unknown activation 'swishy'",
        ),
        (
            {
                "sizes": [2, 1],
                "activations": ["evil"],
                "cost": "mse",
                "user_activations": {"evil": "__import__('os').getcwd()"},
            },
            r"attribute access|not allowed",
        ),
    ],
)
def test_from_dict_rejects_malformed_data(data, match: str) -> None:
    with pytest.raises(sg.SpecError, match=match):
        sg.Network.from_dict(data)


def test_linear_is_another_name_for_identity() -> None:
    net = sg.Network.mlp([2, 1], output="linear", cost="mse")
    assert net.layers[0].act is sg.ACTIVATIONS["identity"]
    assert net.to_dict()["activations"] == ["identity"]


@pytest.mark.parametrize(
    "formula,says",
    [("tnah(z)", "did you mean 'tanh'"), ("sigmiod(z)", "did you mean 'sigmoid'"),
     ("exp(zz)", "did you mean 'z'"), ("z*pii", "did you mean 'pi'")],
)  # fmt: skip
def test_misspelt_names_get_did_you_mean(formula: str, says: str) -> None:
    with pytest.raises(sg.SpecError, match=says):
        sg.Activation.from_formula("f", formula)


def test_special_paths_are_keyed_on_identity_never_on_the_name() -> None:
    import pickle

    # a user formula equal to the sigmoid, under another name: not fused with BCE
    mine = sg.Activation.from_formula("my_sigmoid", "1/(1 + exp(-z))")
    net = sg.Network.mlp([2, 1], output=mine, cost="binary_cross_entropy")
    assert not sg.derive(net).fused and not mine.builtin and not mine.is_softmax
    builtin = sg.Network.mlp([2, 1], output="sigmoid", cost="binary_cross_entropy")
    assert sg.derive(builtin).fused
    # built-ins unpickle as the registry's own objects (a worker process must see the same)
    for act in (sg.ACTIVATIONS["sigmoid"], sg.ACTIVATIONS["softmax"]):
        assert pickle.loads(pickle.dumps(act)) is act
    assert pickle.loads(pickle.dumps(sg.COSTS["cross_entropy"])) is sg.COSTS["cross_entropy"]
    again = pickle.loads(pickle.dumps(mine))
    assert again.name == "my_sigmoid" and again.formula == mine.formula and not again.builtin
