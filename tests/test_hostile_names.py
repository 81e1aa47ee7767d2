"""Names from a declaration, a spec or a weights file never become code in a generated module.

A network's name stands in the generated module's comments and docstring. A name holding a
newline was once copied there unescaped: loading a crafted weights file ran the code after it.
Names are now plain ASCII identifiers or refused, on every path into generated code.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg
from symgrad.io.specfile import parse_spec

MARK = "HOSTILE_NAME_RAN"
HOSTILE = [
    f"net\nimport os; os.environ['{MARK}'] = '1'",
    f"net\r\nprint('{MARK}')",
    "net\u2028x",
    "net'); print('x",
    'net"""',
    "a b",
    "1net",
    "",
    "n" * 65,
    "ñet",
    "net#",
]


@pytest.fixture(autouse=True)
def no_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MARK, raising=False)


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_python_api_refuses_the_name(name: str) -> None:
    with pytest.raises(sg.SpecError, match="identifier"):
        sg.Network.mlp([2, 1], name=name)
    with pytest.raises(sg.SpecError, match="identifier"):
        sg.Network([sg.Dense(2, 1)], name=name)
    with pytest.raises(sg.SpecError, match="identifier"):
        sg.Activation.from_formula(name, "z*sigmoid(z)")
    with pytest.raises(sg.SpecError, match="identifier"):
        sg.Cost.from_formula(name, "(a - y)**2")


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_spec_refuses_the_name(name: str) -> None:
    quoted = json.dumps(name)  # a TOML basic string
    for text in (
        f"[network]\nsizes = [2, 1]\nname = {quoted}\n",
        f'[network]\nsizes = [2, 1]\noutput = {quoted}\n[activations]\n{quoted} = "z"\n',
        f'[network]\nsizes = [2, 1]\ncost = {quoted}\n[costs]\n{quoted} = "(a - y)**2"\n',
    ):
        with pytest.raises(sg.SpecError):
            parse_spec(text)


def _weights_with(tmp_path: Path, change: dict[str, object]) -> Path:
    """A weights file saved by symgrad, then its declaration changed by ``change``."""
    net = sg.Network.mlp([2, 2, 1], hidden="tanh", output="sigmoid", name="honest")
    model = sg.compile(net, sg.SGD(0.1))
    path = model.save(tmp_path / "w.npz")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    meta = json.loads(str(arrays["__symgrad__"]))
    meta["network"].update(change)
    arrays["__symgrad__"] = np.array(json.dumps(meta))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", HOSTILE[:5], ids=range(5))
def test_weights_file_with_a_hostile_name_is_refused(name: str, tmp_path: Path) -> None:
    for change in (
        {"name": name},
        {"activations": [name, "sigmoid"], "user_activations": {name: "z"}},
        {"cost": name, "user_costs": {name: "(a - y)**2"}},
        {"user_activations": {name: "z"}},
    ):
        path = _weights_with(tmp_path, change)
        with pytest.raises(sg.SpecError):
            sg.Model.load(path)
    import os

    assert MARK not in os.environ


def test_every_name_in_generated_code_is_an_identifier() -> None:
    swish = sg.Activation.from_formula("my_swish", "z*sigmoid(z)")
    net = sg.Network([sg.Dense(2, 2, swish), sg.Dense(2, 1, "sigmoid")], name="safe_net_1")
    source = sg.generate(net).source
    assert "safe_net_1" in source
    compile(source, "generated.py", "exec")  # it is Python, and the names are where they belong
