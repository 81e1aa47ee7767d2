"""Spec files: every example loads; every mistake is one SpecError naming the file and the field."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgrad as sg
from symgrad.io.specfile import OptimizerSettings, load_spec, parse_spec
from symgrad.net.formula import parse_formula

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_every_example_spec_loads(path: Path) -> None:
    spec = load_spec(path)
    assert spec.network.name == path.stem
    assert spec.source == str(path)
    assert isinstance(spec.optimizer.build(), sg.SGD | sg.Momentum | sg.Adam)


def test_full_spec_fields() -> None:
    spec = parse_spec(
        """
        [network]
        name = "demo"
        sizes = [2, 4, 1]
        hidden = "swish2"
        output = "sigmoid"
        cost = "logcosh"
        [activations]
        swish2 = "z*sigmoid(z)"
        [costs]
        logcosh = "log(cosh(a - y))"
        [optimizer]
        name = "adam"
        lr = 0.01
        beta2 = 0.99
        [train]
        epochs = 7
        batch_size = 2
        dtype = "float32"
        seed = 3
        shuffle = false
        data = "xor"
        targets = [2]
        """
    )
    net = spec.network
    assert net.name == "demo" and net.sizes == (2, 4, 1)
    assert net.layers[0].act.name == "swish2" and net.layers[1].act.name == "sigmoid"
    assert net.cost.name == "logcosh" and net.cost.formula == "log(cosh(a - y))"
    assert spec.optimizer == OptimizerSettings(
        "adam", {"lr": 0.01, "beta1": 0.9, "beta2": 0.99, "eps": 1e-8}
    )
    assert spec.optimizer.build() == sg.Adam(lr=0.01, beta2=0.99)
    t = spec.train
    assert (t.epochs, t.batch_size, t.dtype, t.seed, t.shuffle, t.data, t.targets) == (
        7, 2, "float32", 3, False, "xor", "2",
    )  # fmt: skip


def test_defaults_and_per_layer_activations() -> None:
    spec = parse_spec(
        '[network]\nsizes = [3, 5, 4, 2]\nactivations = ["tanh", "relu", "softmax"]\ncost = "cross_entropy"'
    )
    assert [layer.act.name for layer in spec.network.layers] == ["tanh", "relu", "softmax"]
    assert spec.optimizer.build() == sg.SGD(lr=0.1)
    assert spec.train.epochs == 100 and spec.train.dtype == "float64"


def test_layer_tables_bias_and_inline_formulas() -> None:
    spec = parse_spec(
        '[network]\ncost = "(a - y)**4"\n'
        '[[network.layers]]\nn_in = 2\nn_out = 3\nactivation = "z*tanh(softplus(z))"\n'
        '[[network.layers]]\nn_in = 3\nn_out = 1\nactivation = "identity"\nbias = false\n'
    )
    net = spec.network
    assert net.sizes == (2, 3, 1) and net.param_names == ("W1", "b1", "W2")
    assert net.layers[0].act.formula == "z*tanh(softplus(z))"
    assert net.cost.formula == "(a - y)**4"


# (TOML, fragment of the message after "bad.toml: ")
BAD_SPECS = [
    ("", "the file is empty"),
    ("[network\n", "TOML syntax error"),
    ("x = 1\n[network]\nsizes = [1, 1]", "unknown section [x]"),
    ("[netwrk]\nsizes = [1, 1]", "unknown section [netwrk] (did you mean 'network'?)"),
    ("[train]\nepochs = 3", "no [network] section"),
    ("[network]\nsizs = [2, 1]", "[network] sizs: unknown field (did you mean 'sizes'?)"),
    ("[network]\nhidden = 'tanh'", "[network] sizes: missing"),
    ("[network]\nsizes = [2]", "[network] sizes: must list at least the input and output sizes"),
    ("[network]\nsizes = [2, 0, 1]", "[network] sizes[1]: 0 is not a layer size"),
    ("[network]\nsizes = [2, 1.5]", "[network] sizes[1]: 1.5 is not a layer size"),
    ("[network]\nsizes = [2, true]", "[network] sizes[1]: True is not a layer size"),
    (
        "[network]\nsizes = [2, 1]\nhidden = 'swsh'",
        "[network] hidden: unknown activation 'swsh' (did you mean 'swish'?)",
    ),
    (
        "[network]\nsizes = [2, 1]\noutput = 3",
        "[network] output: must be an activation name or a formula in z",
    ),
    (
        "[network]\nsizes = [2, 3, 1]\nactivations = ['tanh']",
        "[network] activations: must list one activation per layer (2",
    ),
    (
        "[network]\nsizes = [2, 3, 1]\nactivations = ['tanh', 'relu']\nhidden = 'relu'",
        "[network] hidden: give either",
    ),
    (
        "[network]\nsizes = [2, 3, 1]\ncost = 'quadratik'",
        "[network] cost: unknown cost 'quadratik' (did you mean 'quadratic'?)",
    ),
    (
        "[network]\nsizes = [2, 3, 1]\ncost = 'cross_entropy'\noutput = 'tanh'",
        "[network] cost: cost 'cross_entropy' takes the log",
    ),
    ("[network]\nsizes = [2, 3, 1]\nhidden = 'softmax'", "[network] hidden: layer 1 uses softmax"),
    (
        "[network]\nsizes = [2, 3]\nbias = 'yes'",
        "[network] bias: must be true, false or one per layer",
    ),
    (
        "[network]\nsizes = [100000, 100000, 100000]",
        "[network] sizes: the network would have 20,000,200,000 parameters",
    ),
    (
        "[[network.layers]]\nn_in = 2\nn_out = 3\n[[network.layers]]\nn_in = 4\nn_out = 1",
        "[network] layers[2].n_in: layer 2 takes 4 inputs but layer 1 gives 3; make them equal",
    ),
    (
        "[[network.layers]]\nn_in = 2\nn_out = 3\nunits = 4",
        "[network] layers[1].units: unknown field",
    ),
    ("[[network.layers]]\nn_in = 2", "[network] layers[1].n_out: None is not a layer size"),
    (
        "[network]\nsizes = [2, 1]\n[[network.layers]]\nn_in = 2\nn_out = 1",
        "[network] sizes: give either",
    ),
    (
        "[network]\nsizes = [2, 1]\nhidden = 'foo'\n[activations]\nfoo = 'z*bar(z)'",
        "[activations] foo: activation 'foo' 'z*bar(z)': function 'bar' is not allowed",
    ),
    (
        "[network]\nsizes = [2, 1]\n[activations]\nfoo = 'z*q'",
        "[activations] foo: activation 'foo' 'z*q': unknown name 'q'",
    ),
    (
        "[network]\nsizes = [2, 1]\n[activations]\nfoo = 'z.real'",
        "[activations] foo: activation 'foo' 'z.real': attribute access",
    ),
    (
        "[network]\nsizes = [2, 1]\n[activations]\nfoo = '__class__(z)'",
        "function '__class__' is not allowed",
    ),
    (
        "[network]\nsizes = [2, 1]\n[activations]\nfoo = '__builtins__'",
        "name '__builtins__' is not allowed",
    ),
    (
        "[network]\nsizes = [2, 1]\n[activations]\nfoo = '" + "(" * 500 + "z" + ")" * 500 + "'",
        "the limit is 500",
    ),
    (
        "[network]\nsizes = [2, 1]\n[activations]\nfoo = '" + "-" * 200 + "z'",
        "nested more than 40 levels deep",
    ),
    (
        "[network]\nsizes = [2, 1]\n[activations]\nfoo = 'z**0.5'",
        "[activations] foo: activation 'foo' = z**0.5 is not a finite real number at z = -10",
    ),
    (
        "[network]\nsizes = [2, 1]\n[activations]\nfoo = 3",
        "[activations] foo: must be a formula string",
    ),
    (
        "[network]\nsizes = [2, 1]\n[activations]\nsigmoid = 'z'",
        "[activations] sigmoid: 'sigmoid' is built in",
    ),
    (
        "[network]\nsizes = [2, 1]\n[activations]\n'my fn' = 'z'",
        "[activations] 'my fn': a name must be a plain identifier",
    ),
    (
        "[network]\nsizes = [2, 1]\ncost = 'c'\n[costs]\nc = 'y**2'",
        "[costs] c: cost 'c' = 'y**2' does not depend on 'a'",
    ),
    (
        "[network]\nsizes = [2, 1]\n[optimizer]\nname = 'adagrad'",
        "[optimizer] name: unknown optimizer 'adagrad'",
    ),
    (
        "[network]\nsizes = [2, 1]\n[optimizer]\nbeta = 0.9",
        "[optimizer] beta: sgd has no setting 'beta'",
    ),
    (
        "[network]\nsizes = [2, 1]\n[optimizer]\nlr = -1",
        "[optimizer] lr: must be a positive number",
    ),
    ("[network]\nsizes = [2, 1]\n[optimizer]\nlr = nan", "[optimizer] lr: must be a number"),
    (
        "[network]\nsizes = [2, 1]\n[optimizer]\nname = 'adam'\nbeta1 = 1.0",
        "[optimizer] beta1: must be a number in [0, 1)",
    ),
    (
        "[network]\nsizes = [2, 1]\n[optimizer]\nlearning_rate = 0.1",
        "[optimizer] learning_rate: unknown field",
    ),
    (
        "[network]\nsizes = [2, 1]\n[train]\nepochs = 0",
        "[train] epochs: must be a whole number from 1",
    ),
    (
        "[network]\nsizes = [2, 1]\n[train]\nbatch_size = 2.5",
        "[train] batch_size: must be a whole number",
    ),
    (
        "[network]\nsizes = [2, 1]\n[train]\ndtype = 'float16'",
        "[train] dtype: must be float64 or float32",
    ),
    ("[network]\nsizes = [2, 1]\n[train]\nshuffle = 1", "[train] shuffle: must be true or false"),
    ("[network]\nsizes = [2, 1]\n[train]\nlr = 0.1", "[train] lr: unknown field"),
    ("network = 3", "network must be a table [network]"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD_SPECS, ids=[f[1][:40] for f in BAD_SPECS])
def test_bad_specs_name_the_file_and_field(text: str, fragment: str) -> None:
    with pytest.raises(sg.SpecError) as info:
        parse_spec(text, source="bad.toml")
    message = str(info.value)
    assert message.startswith("bad.toml: "), message
    assert fragment in message, message
    assert "\n" not in message


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(sg.SpecError, match="no such file; check the path"):
        load_spec(tmp_path / "missing.toml")
    with pytest.raises(sg.SpecError, match="is a folder"):
        load_spec(tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"[network]\nsizes = [1, 1]\n# \xff\xfe")
    with pytest.raises(sg.SpecError, match="is not UTF-8 text"):
        load_spec(binary)
    huge = tmp_path / "huge.toml"
    huge.write_text("# " + "x" * 1_100_000)
    with pytest.raises(sg.SpecError, match="a spec is at most"):
        load_spec(huge)


def test_relative_data_path_resolves_against_the_spec(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    spec_path = tmp_path / "sub" / "net.toml"
    spec_path.write_text('[network]\nsizes = [2, 1]\n[train]\ndata = "points.csv"\n')
    assert load_spec(spec_path).data_source() == str(tmp_path / "sub" / "points.csv")
    spec_path.write_text('[network]\nsizes = [2, 1]\n[train]\ndata = "xor"\n')
    assert load_spec(spec_path).data_source() == "xor"


# ------------------------------------------------------------------------------------------------
# Fuzzing: only SpecError, never another exception, never code execution
# ------------------------------------------------------------------------------------------------
FORMULA_ALPHABET = (
    "za y+-*/().,_ 0123456789e"
    + "exp log tanh sigmoid max abs sqrt __import__ lambda [] {} ' \" ^ % < ="
)


def _value() -> st.SearchStrategy[object]:
    scalar = st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.text(alphabet=FORMULA_ALPHABET, max_size=30),
        st.sampled_from(
            [
                "sigmoid",
                "tanh",
                "softmax",
                "swish",
                "mse",
                "cross_entropy",
                "sgd",
                "adam",
                "float32",
                "xor",
            ]
        ),
        st.text(max_size=12),
    )
    return st.one_of(scalar, st.lists(scalar, max_size=5))


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return (
            "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        )
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    assert isinstance(v, list)
    return "[" + ", ".join(_toml_value(x) for x in v) + "]"


KEYS = ["sizes", "hidden", "output", "activations", "cost", "bias", "name", "lr", "beta", "epochs", "batch_size",
        "dtype", "seed", "shuffle", "data", "targets", "swish2", "layers", "n_in", "n_out"]  # fmt: skip
SECTIONS = ["network", "activations", "costs", "optimizer", "train", "netwrk", "network.layers"]


@st.composite
def toml_documents(draw: st.DrawFn) -> str:
    lines = []
    for section in draw(st.lists(st.sampled_from(SECTIONS), max_size=5, unique=True)):
        lines.append(f"[{section}]" if section != "network.layers" else "[[network.layers]]")
        for key in draw(
            st.lists(
                st.one_of(st.sampled_from(KEYS), st.from_regex(r"[a-z_]{1,8}", fullmatch=True)),
                max_size=6,
                unique=True,
            )
        ):
            lines.append(f"{key} = {_toml_value(draw(_value()))}")
    return "\n".join(lines)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(toml_documents())
def test_fuzz_random_toml_documents_raise_only_spec_error(text: str) -> None:
    try:
        spec = parse_spec(text, source="fuzz.toml")
    except sg.SpecError as exc:
        assert str(exc).startswith("fuzz.toml")
    else:
        assert isinstance(spec.network, sg.Network)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_random_text_at_the_spec_loader(text: str) -> None:
    with contextlib.suppress(sg.SpecError):
        parse_spec(text, source="fuzz.toml")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.text(alphabet=FORMULA_ALPHABET, max_size=60)))
def test_fuzz_formula_parser_raises_only_spec_error(text: str) -> None:
    with contextlib.suppress(sg.SpecError):
        parse_formula(text, {"z"})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(alphabet="z+-*/()0123456789. ", min_size=1, max_size=25)
    | st.sampled_from(
        [
            "exp(z)",
            "log(z)",
            "sqrt(z)",
            "z**0.5",
            "abs(z)",
            "max(z, 0)",
            "tanh(z)*z",
            "1/z",
            "log(1 - z)",
            "z**z",
        ]
    )
)
def test_fuzz_user_activations_in_a_spec_raise_only_spec_error(formula: str) -> None:
    with contextlib.suppress(sg.SpecError):
        parse_spec(
            f'[network]\nsizes = [1, 1]\noutput = "f"\n[activations]\nf = {json.dumps(formula)}'
        )


MALICIOUS = [
    "__import__('os').system('touch {marker}')",
    "open('{marker}', 'w')",
    "exec(\"open('{marker}', 'w')\")",
    "(lambda: open('{marker}', 'w'))()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "z.__class__.__init__.__globals__",
    "eval(\"open('{marker}', 'w')\")",
    "getattr(z, '__class__')",
]


@pytest.mark.parametrize("payload", MALICIOUS)
def test_formulas_never_run_code(
    payload: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pwned"
    formula = payload.format(marker=marker)
    with pytest.raises(sg.SpecError):
        parse_spec(f"[network]\nsizes = [1, 1]\noutput = {json.dumps(formula)}", source="evil.toml")
    with pytest.raises(sg.SpecError):
        sg.Activation.from_formula("evil", formula)
    assert not marker.exists()


def test_a_byte_order_mark_is_not_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf[network]\nsizes = [2, 3, 1]\n")  # as some editors save UTF-8
    assert load_spec(path).network.sizes == (2, 3, 1)


@pytest.mark.parametrize(
    "digit", ["²", "\u0661", "\U0001d7d9"]
)  # superscript, Arabic-Indic, double-struck
def test_non_ascii_digits_are_refused_by_name(digit: str, tmp_path: Path) -> None:
    # "²".isdigit() is True, and int("²") fails: every index and column number is ASCII
    text = f'[network]\nsizes = [2, 3, 2]\n[train]\ntargets = "{digit}"\n'
    spec = parse_spec(text)
    csv = tmp_path / "d.csv"
    csv.write_text("0,1,0,1\n1,0,1,0\n")
    with pytest.raises(sg.SpecError, match="--targets: no column"):
        sg.load_data(csv, network=spec.network, targets=spec.train.targets)
    with pytest.raises(sg.SpecError, match="unknown parameter"):
        spec.network.layer_of(f"W{digit}")
    with pytest.raises(sg.SpecError):
        sg.derive(spec.network).symbol(f"z{digit}", 0)
    with pytest.raises(sg.SpecError):
        sg.load_data(csv, network=spec.network, targets=f"last:{digit}")
