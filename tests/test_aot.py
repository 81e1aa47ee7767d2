"""Extensions built ahead of time (symgrad.runtime.aot): the same numbers as the jitted module, and a
new process that trains with them without importing Numba or SciPy."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg
from symgrad.cli import main
from symgrad.codegen import cache as cache_module
from symgrad.runtime import aot

CAN_BUILD = (
    shutil.which(str(sysconfig.get_config_var("CC") or "cc").split()[0]) is not None
    and (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file()
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CAN_BUILD, reason="building ahead of time needs a C compiler and Python.h"
    ),
]

ROOT = Path(__file__).resolve().parent.parent

# (network, optimiser, dtype, shape): the names are this file's own, so that no other test's
# sg.compile finds these extensions in the run's cache
CASES = {
    "unrolled": (
        sg.Network.mlp([2, 4, 1], hidden="tanh", output="sigmoid", cost="mse", name="aot_xor"),
        sg.SGD(lr=0.5),
        "float64",
        "unrolled",
    ),
    "blas": (
        sg.Network.mlp(
            [6, 5, 3], hidden="sigmoid", output="softmax", cost="cross_entropy", name="aot_clf"
        ),
        sg.Momentum(lr=0.1, beta=0.9),
        "float32",
        "blas",
    ),
}

# the recipes as a subprocess rebuilds them (sg.Network.from_dict, optimizer_from_dict)
CHILD = """
import json, sys
import numpy as np
import symgrad as sg
from symgrad.net.optim import optimizer_from_dict
spec = json.loads(sys.argv[1])
net = sg.Network.from_dict(spec["network"])
model = sg.compile(net, optimizer_from_dict(spec["optimizer"]), spec["dtype"], shape=spec["shape"])
rng = np.random.default_rng(0)
X = rng.random((13, net.sizes[0]))
Y = rng.random((13, net.sizes[-1]))
model.fit(X, Y, epochs=3, batch_size=spec["batch"], progress=False)
print(json.dumps({
    "aot": model.aot,
    "numba": "numba" in sys.modules,
    "scipy": "scipy" in sys.modules,
    "params": {k: v.tolist() for k, v in model.params.items()},
}))
"""


@pytest.fixture(scope="module", params=sorted(CASES))
def pair(request: pytest.FixtureRequest) -> tuple[sg.Model, sg.Model, str]:
    """The same recipe twice: trained by the jitted module, and by its extension."""
    net, opt, dtype, shape = CASES[request.param]
    code = sg.generate(net, opt, dtype, shape=shape)
    jitted = code.compile()  # before the build: the module's own functions
    built = sg.compile(net, opt, dtype, shape=shape, aot=True)
    assert built.aot and not jitted.aot
    assert code.compile().aot  # once built, each way in finds the extension
    return jitted, built, request.param


def _data(model: sg.Model, rows: int = 13) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((rows, model.net.sizes[0])), rng.random((rows, model.net.sizes[-1]))


@pytest.mark.parametrize("batch", [1, 5])
def test_the_extension_computes_what_the_module_does(
    pair: tuple[sg.Model, sg.Model, str], batch: int
) -> None:
    jitted, built, _ = pair
    X, Y = _data(jitted)
    histories = [
        m.init(seed=3).fit(X, Y, epochs=3, batch_size=batch, progress=False) for m in pair[:2]
    ]
    assert histories[0].loss == histories[1].loss
    assert jitted.step == built.step == 3 * -(-13 // batch)
    for name, value in jitted.params.items():
        np.testing.assert_array_equal(built.params[name], value, err_msg=name)
    for name, value in jitted.optimizer_state.items():
        np.testing.assert_array_equal(built.optimizer_state[name], value, err_msg=name)
    np.testing.assert_array_equal(built.predict(X), jitted.predict(X))
    assert built.loss(X, Y) == jitted.loss(X, Y)
    for name, value in jitted.gradients(X, Y).items():
        np.testing.assert_array_equal(built.gradients(X, Y)[name], value, err_msg=name)


def test_the_extension_keeps_the_runtime_checks(pair: tuple[sg.Model, sg.Model, str]) -> None:
    _, built, _ = pair
    X, Y = _data(built)
    X[2, 0] = np.nan
    with pytest.raises(sg.SpecError, match="NaN"):
        built.fit(X, Y, progress=False)
    with pytest.raises(sg.SpecError, match="columns"):
        built.predict(np.zeros((2, built.net.sizes[0] + 1)))
    with pytest.raises(sg.SpecError, match="NaN or infinity"):
        built.set_params({**built.params, "W1": np.full_like(built.params["W1"], np.inf)})


def test_a_new_process_trains_with_the_extension_without_numba(
    pair: tuple[sg.Model, sg.Model, str],
) -> None:
    _, built, case = pair
    net, opt, dtype, shape = CASES[case]
    batch = 1 if case == "unrolled" else 5
    spec = {
        "network": net.to_dict(),
        "optimizer": opt.to_dict(),
        "dtype": dtype,
        "shape": shape,
        "batch": batch,
    }
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child["aot"] is True
    assert child["numba"] is False and child["scipy"] is False
    X, Y = _data(built)
    built.init(seed=0).fit(X, Y, epochs=3, batch_size=batch, progress=False)
    for name, value in built.params.items():
        np.testing.assert_array_equal(np.asarray(child["params"][name], value.dtype), value)


def test_the_module_is_imported_only_when_asked_for(pair: tuple[sg.Model, sg.Model, str]) -> None:
    jitted, built, _ = pair
    again = sg.compile(built.net, built.optimizer, built.dtype.name, shape=built.shape)
    assert again.aot and "built ahead of time" in repr(again)
    assert "ahead" not in repr(jitted)
    assert again.module.__file__ == jitted.module.__file__  # the generated source, for reading


def test_an_extension_that_does_not_load_is_passed_over(tmp_path: Path) -> None:
    broken = tmp_path / f"aot_broken{sysconfig.get_config_var('EXT_SUFFIX')}"
    broken.write_bytes(b"not a shared library")
    assert aot.load(broken, "blas") is None
    assert aot.load(tmp_path / "missing.so", "blas") is None


def test_extension_names_hold_the_recipe_and_the_cpu() -> None:
    path = Path("cache") / "net_0123456789abcdef0123.py"
    ext = aot.extension_path(path)
    assert ext.parent == path.parent
    assert ext.name.startswith(f"aot_net_0123456789abcdef0123_{aot._host_tag()}.")
    assert ext.name.endswith(str(sysconfig.get_config_var("EXT_SUFFIX")))


# CASES["unrolled"] as a spec file: `train --aot` finds the extension the fixture built
UNROLLED_SPEC = """
[network]
name = "aot_xor"
sizes = [2, 4, 1]
hidden = "tanh"
output = "sigmoid"
cost = "mse"

[optimizer]
name = "sgd"
lr = 0.5

[train]
data = "xor"
batch_size = 4
dtype = "float64"
"""


@pytest.mark.parametrize("pair", ["unrolled"], indirect=True)
def test_train_on_the_command_line_runs_the_extension(
    pair: tuple[sg.Model, sg.Model, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "net.toml"
    spec.write_text(UNROLLED_SPEC, encoding="utf-8")
    built = sorted(cache_module.cache_dir().glob("aot_aot_xor_*"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    args = ["train", str(spec), "--epochs", "50", "--no-progress"]
    assert main([*args, "--aot"]) == 0  # the extension is there: nothing is built again
    first = capsys.readouterr().out
    assert main(args) == 0
    second = capsys.readouterr().out
    assert built[0].stat().st_mtime_ns == stamp
    assert [l for l in first.splitlines() if not l.startswith("time")] == [
        l for l in second.splitlines() if not l.startswith("time")
    ]
    jitted = pair[0].init(seed=0)
    assert not jitted.aot
    jitted.fit(
        sg.load_data("xor").X,
        sg.load_data("xor").Y,
        epochs=50,
        batch_size=4,
        seed=0,
        progress=False,
    )
    assert f"{jitted.loss(sg.load_data('xor').X, sg.load_data('xor').Y):.4g}" in first


def test_a_failed_build_says_why_and_leaves_nothing_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net = sg.Network.mlp([1, 1], hidden="sigmoid", output="sigmoid", name="aot_no_compiler")
    monkeypatch.setenv("CC", "/nonexistent/cc")  # the compiler setuptools is told to use
    with pytest.raises(sg.CodegenError, match="C compiler"):
        sg.compile(net, sg.SGD(0.1), aot=True)
    cache = cache_module.cache_dir()
    assert not list(cache.glob("aot_aot_no_compiler_*"))
    assert not list(cache.glob(".aot-*"))
    assert not sg.compile(net, sg.SGD(0.1)).aot  # the jitted module still trains


_HEAL_CHILD = """
import json, sys
import numpy as np
import symgrad as sg
net = sg.Network.mlp([2, 3, 1], hidden="tanh", output="sigmoid", name="aot_heal")
model = sg.compile(net, sg.SGD(lr=0.5), shape="unrolled", aot=sys.argv[1] == "aot")
X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
history = model.fit(X, np.array([0.0, 1.0, 1.0, 0.0]), epochs=20, batch_size=2, shuffle=False)
print(json.dumps({"aot": model.aot, "loss": history.loss}))
"""


def _child(cache: Path, mode: str) -> tuple[bool, list[float]]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "SYMGRAD_CACHE_DIR": str(cache),
        "NUMBA_CACHE_DIR": str(cache / "numba"),
    }
    out = subprocess.run(
        [sys.executable, "-c", _HEAL_CHILD, mode], capture_output=True, text=True, env=env
    )
    # a truncated shared library is a bus error when it is opened: a signal, seen here
    assert out.returncode == 0, (out.returncode, out.stderr[-3000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["aot"], result["loss"]


def test_a_truncated_extension_is_never_opened(tmp_path: Path) -> None:
    """The extension's sha256 is in the module's manifest: one that does not match is deleted
    unopened, then built again (aot=True) or passed over for the jitted module."""
    built, loss = _child(tmp_path, "aot")
    (extension,) = tmp_path.glob("aot_aot_heal_*")
    (module,) = tmp_path.glob("aot_heal_*.py")
    manifest = json.loads(module.with_suffix(".json").read_text())
    good = extension.read_bytes()
    assert built and manifest["extensions"] == {extension.name: hashlib.sha256(good).hexdigest()}
    for mode in ("aot", "jit"):  # built again; passed over
        extension.write_bytes(good[: len(good) // 3])  # opening this one is a bus error
        assert _child(tmp_path, mode) == (mode == "aot", loss), mode
        assert extension.exists() == (mode == "aot"), mode
        if mode == "aot":
            manifest = json.loads(module.with_suffix(".json").read_text())
            digest = hashlib.sha256(extension.read_bytes()).hexdigest()
            assert manifest["extensions"][extension.name] == digest
            good = extension.read_bytes()
    # one the manifest knows nothing of (from before manifests, or put there) is not opened either
    extension.write_bytes(good[: len(good) // 3])
    manifest.pop("extensions")
    module.with_suffix(".json").write_text(json.dumps(manifest))
    assert _child(tmp_path, "jit") == (False, loss)
    assert not extension.exists()
