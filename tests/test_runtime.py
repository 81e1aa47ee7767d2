"""Model: initialisation, validation at the edge, fit, divergence, save/load, numerical safety."""

from __future__ import annotations

import importlib.util
import io
import json
import math
import tracemalloc
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import symgrad as sg
from symgrad.net import optim
from symgrad.runtime import build as build_module
from symgrad.runtime import fitting
from symgrad.runtime import model as model_module
from symgrad.runtime import weights as weights_module
from symgrad.verify import numeric

pytestmark = pytest.mark.slow

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])
SHAPES = ("blas", "unrolled")
CLF = sg.Network.mlp([3, 5, 3], hidden="relu", output="softmax", cost="cross_entropy", name="clf")


@pytest.fixture(scope="module", params=SHAPES)
def xor_model(request: pytest.FixtureRequest) -> sg.Model:
    net = sg.Network.mlp([2, 4, 1], hidden="tanh", output="sigmoid", cost="quadratic", name="xor")
    return sg.compile(net, sg.SGD(lr=0.5), shape=request.param)


@pytest.fixture(scope="module", params=SHAPES)
def clf_model(request: pytest.FixtureRequest) -> sg.Model:
    return sg.compile(CLF, sg.Adam(lr=0.01), shape=request.param)


@pytest.fixture
def xor(xor_model: sg.Model) -> sg.Model:
    return xor_model.init(seed=0)


@pytest.fixture
def clf(clf_model: sg.Model) -> sg.Model:
    return clf_model.init(seed=0)


def clf_data(rng: np.random.Generator, rows: int = 30) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(0.0, 1.0, (rows, 3))
    return X, (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 1).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------
def test_init_glorot_and_he(xor: sg.Model, clf: sg.Model) -> None:
    p = xor.init(seed=1).params
    assert set(p) == {"W1", "b1", "W2", "b2"} and p["W1"].shape == (4, 2) and p["b2"].shape == (1,)
    assert np.all(p["b1"] == 0) and np.all(p["b2"] == 0)
    assert np.abs(p["W1"]).max() <= math.sqrt(6 / (2 + 4))  # Glorot for tanh
    assert np.abs(clf.init(seed=1).params["W1"]).max() <= math.sqrt(6 / 3)  # He for relu
    assert np.abs(clf.params["W1"]).max() > math.sqrt(6 / (3 + 5))  # (wider than Glorot would be)
    np.testing.assert_array_equal(xor.init(seed=1).params["W1"], p["W1"])
    assert not np.array_equal(xor.init(seed=2).params["W1"], p["W1"])


def test_params_are_copies_and_set_params_validates(xor: sg.Model) -> None:
    p = xor.params
    p["W1"][:] = 99.0
    assert not np.any(xor.params["W1"] == 99.0)
    xor.set_params(p)
    assert np.all(xor.params["W1"] == 99.0)
    with pytest.raises(sg.SpecError, match="missing b2"):
        xor.set_params({k: v for k, v in p.items() if k != "b2"})
    with pytest.raises(sg.SpecError, match=r"W2 must have shape \(1, 4\)"):
        xor.set_params({**p, "W2": np.zeros((4, 1))})
    with pytest.raises(sg.SpecError, match="NaN"):
        xor.set_params({**p, "b1": np.full(4, np.nan)})
    with pytest.raises(sg.SpecError, match="unknown W3"):
        xor.set_params({**p, "W3": np.zeros(1)})
    assert np.all(xor.params["W1"] == 99.0)  # a refused call changes nothing
    xor.set_params({**p, "b1": np.arange(4)})  # integers are numbers too
    assert xor.params["b1"].tolist() == [0.0, 1.0, 2.0, 3.0]
    for value in (1.0, 2.0, 3.0):  # set_params takes two buffers in turn: each call is its own
        xor.set_params({**p, "b1": np.full(4, value)})
        assert xor.params["b1"].tolist() == [value] * 4 and xor.params["W1"][0, 0] == 99.0


# ---------------------------------------------------------------------------------------------
# Data at the edge
# ---------------------------------------------------------------------------------------------
def test_input_errors_say_what_to_change(xor: sg.Model) -> None:
    with pytest.raises(sg.SpecError, match="X has 3 columns but the network takes 2 inputs"):
        xor.predict(np.zeros((4, 3)))
    with pytest.raises(sg.SpecError, match="Y has 3 rows but X has 4"):
        xor.loss(XOR_X, np.zeros((3, 1)))
    with pytest.raises(sg.SpecError, match="NaN or infinity"):
        xor.predict(np.array([[0.0, np.inf]]))
    with pytest.raises(sg.SpecError, match="must hold real numbers"):
        xor.predict(np.array([["a", "b"]]))
    with pytest.raises(sg.SpecError, match="2-D"):
        xor.predict(np.zeros((2, 2, 2)))
    with pytest.raises(sg.SpecError, match="batch_size"):
        xor.fit(XOR_X, XOR_Y, epochs=1, batch_size=0)


def test_fit_refuses_data_that_is_not_finite_and_trains_nothing(xor: sg.Model) -> None:
    # checked by the module's compiled _all_finite, in the model's dtype
    before = xor.params
    for X, Y, bad in (
        (np.where(XOR_X == 1.0, np.nan, XOR_X), XOR_Y, "X"),
        (XOR_X, np.where(XOR_Y == 1.0, -np.inf, XOR_Y), "Y"),
        (XOR_X, np.full(XOR_Y.shape, np.inf, np.float32), "Y"),
        (XOR_X, np.full(XOR_Y.shape[0], np.nan), "Y"),  # one column, given as a vector
    ):
        with pytest.raises(sg.SpecError, match=rf"^{bad} contains NaN or infinity \(in float64\)"):
            xor.fit(X, Y, epochs=3, batch_size=2, shuffle=False, progress=False)
        assert xor.step == 0
        for name, value in xor.params.items():
            np.testing.assert_array_equal(value, before[name])
    assert len(xor.fit(XOR_X, XOR_Y, epochs=2, batch_size=4, progress=False).loss) == 2


def test_integer_labels_equal_one_hot(clf: sg.Model, rng: np.random.Generator) -> None:
    X, labels = clf_data(rng)
    one_hot = np.eye(3)[labels]
    assert clf.loss(X, labels) == clf.loss(X, one_hot)
    for p, g in clf.gradients(X, labels).items():
        np.testing.assert_array_equal(g, clf.gradients(X, one_hot)[p])
    with pytest.raises(sg.SpecError, match=r"labels must lie in 0..2"):
        clf.loss(X, np.full(len(X), 3))
    with pytest.raises(sg.SpecError, match="integer class labels"):
        clf.loss(X, labels.astype(float))


def test_predict_loss_gradients_agree_with_numpy_reference(
    clf: sg.Model, rng: np.random.Generator
) -> None:
    X, labels = clf_data(rng, rows=9)
    params = clf.params
    np.testing.assert_allclose(
        clf.predict(X), numeric.forward(clf.net, params, X)[1][-1], rtol=1e-13
    )
    assert clf.loss(X, labels) == pytest.approx(numeric.cost(clf.net, params, X, labels), rel=1e-13)
    ref = numeric.gradients(clf.net, params, X, labels)
    for p, g in clf.gradients(X, labels).items():
        np.testing.assert_allclose(g, ref[p], rtol=1e-11, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------------------------
def test_fit_learns_xor(xor: sg.Model) -> None:
    history = xor.fit(XOR_X, XOR_Y, epochs=2000, batch_size=4, shuffle=False, progress=False)
    assert isinstance(history, sg.History) and len(history) == history.epochs == 2000
    assert history._chunks and not history._loss  # kept as arrays until read
    assert len(history.loss) == 2000 and history.val_loss == [] and not history._chunks
    assert all(type(v) is float for v in history.loss) and history.epochs == 2000
    assert history.loss[-1] < 0.05 < history.loss[0]
    assert xor.step == 2000
    np.testing.assert_array_equal(xor.predict(XOR_X) > 0.5, XOR_Y > 0.5)


def test_fit_is_reproducible_and_records_validation(
    clf: sg.Model, rng: np.random.Generator
) -> None:
    X, labels = clf_data(rng, rows=40)
    h1 = clf.init(0).fit(
        X[:30], labels[:30], epochs=5, batch_size=7, seed=4, validation=(X[30:], labels[30:])
    )
    w1 = clf.params
    h2 = clf.init(0).fit(
        X[:30], labels[:30], epochs=5, batch_size=7, seed=4, validation=(X[30:], labels[30:])
    )
    assert h1 == h2 and len(h1.val_loss) == 5
    for p in w1:
        np.testing.assert_array_equal(w1[p], clf.params[p])
    assert h1.val_loss[-1] == pytest.approx(clf.loss(X[30:], labels[30:]), rel=1e-12)
    h3 = clf.init(0).fit(X[:30], labels[:30], epochs=5, batch_size=7, seed=5)
    assert h3.loss != h1.loss  # another shuffle


def test_epoch_loss_is_the_mean_over_examples_before_each_step(xor: sg.Model) -> None:
    before = xor.loss(XOR_X, XOR_Y)
    history = xor.fit(XOR_X, XOR_Y, epochs=1, batch_size=4, shuffle=False, progress=False)
    assert history.loss == [pytest.approx(before, rel=1e-14)]


def test_progress_bar_shows_the_running_loss(
    xor: sg.Model, capsys: pytest.CaptureFixture[str]
) -> None:
    xor.fit(XOR_X, XOR_Y, epochs=3, batch_size=2, progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "loss=" in err
    xor.fit(XOR_X, XOR_Y, epochs=3, batch_size=2)  # not a terminal: no bar
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("shape", "optimizer"), [("blas", sg.SGD(lr=3.0)), ("unrolled", sg.Momentum(lr=1.0, beta=0.5))]
)
def test_divergence_raises_and_keeps_finite_weights(
    shape: str, optimizer: optim.Optimizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = sg.Network.mlp([1, 1], output="identity", cost="quadratic", name="line")
    model = sg.compile(net, optimizer, shape=shape)
    calls: list[tuple[int, int]] = []  # (epochs asked for, epochs completed) of each call
    train_epochs = model.module.train_epochs

    def recorded(*args: object) -> tuple[int, int]:
        done, t = train_epochs(*args)
        calls.append((int(args[3]), int(done)))  # type: ignore[call-overload]
        return done, t

    monkeypatch.setattr(model.module, "train_epochs", recorded)
    monkeypatch.setattr(fitting, "epochs_per_call", lambda seconds, rows: 1000)  # calls of 1, 499
    X = np.linspace(-10, 10, 50).reshape(-1, 1)
    with pytest.raises(sg.DivergenceError, match="diverged in epoch") as info:
        model.fit(X, 3 * X, epochs=500, batch_size=50, shuffle=False)
    epoch = info.value.epoch
    assert 1 < epoch < 500
    assert calls == [(1, 1), (499, epoch - 2)] and epoch > 2  # in the middle of the second call
    assert all(np.all(np.isfinite(p)) for p in model.params.values())
    assert model.step == epoch - 1  # the steps of the last finite epoch, one per epoch
    assert len(info.value.history.loss) == epoch - 1  # type: ignore[attr-defined]
    # the weights and optimiser state put back are those after epoch - 1: replaying gives the same
    monkeypatch.undo()
    replay = sg.compile(net, optimizer, shape=shape)
    replay.fit(X, 3 * X, epochs=epoch - 1, batch_size=50, shuffle=False)
    for p, w in model.params.items():
        np.testing.assert_array_equal(w, replay.params[p])
    for k, v in model.optimizer_state.items():
        np.testing.assert_array_equal(v, replay.optimizer_state[k])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_divergence_with_batches_of_one_keeps_the_weights_before_the_epoch(dtype: str) -> None:
    """train_epochs_one (batches of one, plain SGD) stops as train_epochs does: the weights
    put back are those after the last finite epoch, the same as a run of that many epochs."""
    net = sg.Network.mlp([1, 1], output="identity", cost="quadratic", name="line")
    X = np.linspace(-3, 3, 7).reshape(-1, 1)
    lr = 0.5  # too large a step for the largest x: the run diverges after some epochs
    model = sg.compile(net, sg.SGD(lr=lr), dtype, shape="unrolled")
    assert hasattr(model.module, "train_epochs_one")
    with pytest.raises(sg.DivergenceError, match="diverged in epoch") as info:
        model.fit(X, 3 * X + 1, epochs=2000, batch_size=1, shuffle=False)
    epoch = info.value.epoch
    assert 1 < epoch < 2000 and model.step == 7 * (epoch - 1)
    assert all(np.all(np.isfinite(p)) for p in model.params.values())
    replay = sg.compile(net, sg.SGD(lr=lr), dtype, shape="unrolled")
    replay.fit(X, 3 * X + 1, epochs=epoch - 1, batch_size=1, shuffle=False)
    for p, w in model.params.items():
        np.testing.assert_array_equal(w, replay.params[p])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_many_epochs_per_call_equal_one_epoch_per_call(
    clf_model: sg.Model, dtype: str, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    if dtype == "float64":
        model = clf_model
    elif clf_model.shape == "unrolled":  # float64 scalars inside, float32 between epochs
        small = sg.Network.mlp([3, 3, 3], hidden="relu", output="softmax", cost="cross_entropy")
        model = sg.compile(small, sg.Adam(0.01), dtype, shape="unrolled")
    else:
        pytest.skip("the blas shape keeps no state outside its arrays")
    X, labels = clf_data(rng, rows=23)
    monkeypatch.setattr(
        fitting, "epochs_per_call", lambda seconds, rows: 3
    )  # calls of at most 3 epochs
    model.init(0)
    chunked = model.fit(X, labels, epochs=12, batch_size=5, seed=4)
    weights, state = model.params, model.optimizer_state
    model.init(0)  # validation data make fit call the compiled code once per epoch
    single = model.fit(X, labels, epochs=12, batch_size=5, seed=4, validation=(X[:3], labels[:3]))
    assert chunked.loss == single.loss and len(single.val_loss) == 12
    for p, w in weights.items():
        np.testing.assert_array_equal(w, model.params[p])
    for k, v in state.items():
        np.testing.assert_array_equal(v, model.optimizer_state[k])
    assert state["step"] == 12 * 5


# ---------------------------------------------------------------------------------------------
# Numerical safety
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_saturated_units_give_finite_losses_and_gradients(shape: str) -> None:
    sig = sg.compile(
        sg.Network.mlp([1, 1], output="sigmoid", cost="binary_cross_entropy", name="bce"),
        shape=shape,
    )
    sig.set_params({"W1": np.array([[1.0]]), "b1": np.array([0.0])})
    X, Y = np.array([[-800.0], [800.0], [40.0]]), np.array([[1.0], [0.0], [1.0]])
    np.testing.assert_array_equal(sig.predict(X)[:2, 0], [0.0, 1.0])
    assert sig.loss(X, Y) == pytest.approx((800 + 800 + math.log1p(math.exp(-40))) / 3, rel=1e-12)
    assert all(np.all(np.isfinite(g)) for g in sig.gradients(X, Y).values())
    assert np.isfinite(sig.fit(X, Y, epochs=2, batch_size=2, shuffle=False).loss[-1])
    soft = sg.compile(
        sg.Network.mlp([2, 3], output="softmax", cost="cross_entropy", name="lse"), shape=shape
    )
    soft.set_params({"W1": np.array([[1000.0, 0.0], [0.0, 1000.0], [0.0, 0.0]]), "b1": np.zeros(3)})
    Xs = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert soft.loss(Xs, np.array([1, 2])) == pytest.approx(1000.0, rel=1e-12)
    assert np.all(np.isfinite(soft.predict(Xs)))


def _scipy_blas_module(module: ModuleType, tmp_path: Path) -> ModuleType:
    """A copy of a blas-shape module that takes SciPy's BLAS, as where NumPy's has no CBLAS."""
    source = Path(str(module.__file__)).read_text(encoding="utf-8")
    assert source.count("NUMPY_BLAS = _NUMPY_CBLAS is not None") == 1
    path = tmp_path / "scipy_blas_module.py"
    path.write_text(source.replace("NUMPY_BLAS = _NUMPY_CBLAS is not None", "NUMPY_BLAS = False"))
    spec = importlib.util.spec_from_file_location("scipy_blas_module", path)
    assert spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    return copy


@pytest.mark.parametrize("blas", ["numpy", "scipy"])
def test_blas_gemm_takes_flags_strides_and_accumulates(
    clf_model: sg.Model, blas: str, tmp_path: Path
) -> None:
    if clf_model.shape != "blas":
        pytest.skip("the unrolled shape calls no BLAS")
    mod = clf_model.module if blas == "numpy" else _scipy_blas_module(clf_model.module, tmp_path)
    if np.__config__.CONFIG["Build Dependencies"]["blas"]["name"] == "scipy-openblas":
        assert mod.NUMPY_BLAS is (blas == "numpy")  # NumPy's wheels: its own BLAS is found
    gemm = mod.gemm
    one, zero = (
        np.ones(1),
        np.zeros(1),
    )  # alpha and beta: arrays of one, as the module's callers make
    rng = np.random.default_rng(3)
    big = rng.random((7, 9))
    A = big[:4, :6]  # rows of unit stride, leading dimension 9: no copy needed
    B = rng.random((5, 6))
    C = rng.random((4, 5))
    expect = 2.0 * A @ B.T + C
    gemm(mod.NO_TRANS, mod.TRANS, np.array([2.0]), A, B, one, C)
    np.testing.assert_allclose(C, expect, rtol=1e-13)
    D = np.empty((6, 6))
    gemm(mod.TRANS, mod.NO_TRANS, one, A, A, zero, D)
    np.testing.assert_allclose(D, A.T @ A, rtol=1e-13)
    row = big[2:3, 1:7]  # one row: its row stride says nothing
    E = np.empty((1, 5))
    gemm(mod.NO_TRANS, mod.TRANS, one, row, B, zero, E)
    np.testing.assert_allclose(E, row @ B.T, rtol=1e-13)
    with pytest.raises(ValueError, match="unit stride"):
        gemm(mod.NO_TRANS, mod.NO_TRANS, one, big[:, ::2], B, zero, np.empty((7, 6)))


# ---------------------------------------------------------------------------------------------
# save / load
# ---------------------------------------------------------------------------------------------
def test_save_load_round_trip_and_resume(
    clf: sg.Model, rng: np.random.Generator, tmp_path: Path
) -> None:
    X, labels = clf_data(rng)
    clf.fit(X, labels, epochs=2, batch_size=8, shuffle=False)
    path = clf.save(tmp_path / "weights.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["weights.npz"]
    loaded = sg.Model.load(path)
    assert loaded.net.to_dict() == clf.net.to_dict() and loaded.optimizer == clf.optimizer
    assert loaded.step == clf.step and loaded.dtype == clf.dtype and loaded.shape == clf.shape
    for p, w in clf.params.items():
        np.testing.assert_array_equal(w, loaded.params[p])
    for k, v in clf.optimizer_state.items():
        np.testing.assert_array_equal(v, loaded.optimizer_state[k])
    # Adam's moments travel with the weights: resuming equals never stopping
    clf.fit(X, labels, epochs=2, batch_size=8, shuffle=False)
    loaded.fit(X, labels, epochs=2, batch_size=8, shuffle=False)
    for p, w in clf.params.items():
        np.testing.assert_array_equal(w, loaded.params[p])


def _rewrite(path: Path, change: dict[str, object]) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays.update(change)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


def test_tampered_or_truncated_files_are_refused(xor: sg.Model, tmp_path: Path) -> None:
    good = xor.save(tmp_path / "good.npz")
    data = good.read_bytes()
    meta = json.loads(str(np.load(good)["__symgrad__"]))
    cases: dict[str, tuple[object, str]] = {
        "truncated": (data[: len(data) // 2], "not a readable symgrad weights file"),
        "garbage": (b"not a zip file at all", "not a readable symgrad weights file"),
        "shape": ({"W1": np.zeros((2, 4))}, r"W1 must have shape \(4, 2\)"),
        "missing": ({"b2": None}, "missing b2"),
        "nan": ({"W2": np.full((1, 4), np.nan)}, "NaN"),
        "dtype": ({"W2": np.zeros((1, 4), np.float32)}, "dtype float32"),
        "json": ({"__symgrad__": np.array("{not json")}, "declaration is malformed"),
        "network": (
            {"__symgrad__": np.array(json.dumps({**meta, "network": {"sizes": "x"}}))},
            "malformed",
        ),
        "no meta": ({"__symgrad__": None}, "no symgrad declaration"),
        "pickle": (
            {"W1": np.array([object()], dtype=object)},
            "not a readable symgrad weights file",
        ),
    }
    for name, (change, message) in cases.items():
        path = tmp_path / f"{name}.npz"
        if isinstance(change, bytes):
            path.write_bytes(change)
        else:
            path.write_bytes(data)
            _rewrite(path, change) if name != "pickle" else _rewrite_pickled(path, change)
        with pytest.raises(sg.SpecError, match=message) as info:
            sg.Model.load(path)
        assert str(path) in str(info.value), name
    # a flipped byte inside an array: the zip checksum catches it
    flipped = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info_w1 = zf.getinfo("W1.npy")
    flipped[info_w1.header_offset + 30 + len("W1.npy") + 140] ^= 0xFF
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    with pytest.raises(sg.SpecError, match=r"flipped\.npz"):
        sg.Model.load(tmp_path / "flipped.npz")


def _rewrite_pickled(path: Path, change: dict[str, object]) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays.update(change)  # type: ignore[arg-type]
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # object arrays are pickled by savez
    path.write_bytes(buf.getvalue())


def test_float32_model_trains(rng: np.random.Generator) -> None:
    model = sg.compile(CLF, sg.Adam(lr=0.01), dtype="float32", shape="blas")
    X, labels = clf_data(rng, rows=60)
    history = model.fit(X, labels, epochs=30, batch_size=16)
    assert history.loss[-1] < history.loss[0]
    assert all(p.dtype == np.float32 for p in model.params.values())
    too_big = {**model.params, "W2": np.full(model.params["W2"].shape, 1e300)}
    with pytest.raises(sg.SpecError, match=r"W2 contains NaN or infinity \(in float32\)"):
        model.set_params(too_big)  # finite in float64, inf once cast
    with pytest.raises(sg.SpecError, match=r"^X contains NaN or infinity \(in float32\)"):
        model.fit(np.full_like(X, 1e300), labels, epochs=1)  # the same for data


def _weights_file(path: Path, meta: dict[str, object], arrays: dict[str, np.ndarray]) -> Path:
    """A weights file as Model.save lays it out, with any declaration and arrays."""
    buf = io.BytesIO()
    np.savez(buf, **arrays, __symgrad__=np.array(json.dumps(meta)))
    path.write_bytes(buf.getvalue())
    return path


def _no_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a weights file that does not fit was compiled")

    monkeypatch.setattr(build_module, "compile", refuse)


XOR_META: dict[str, object] = {
    "format": 1,
    "network": sg.Network.mlp([2, 4, 1], hidden="tanh", output="sigmoid", name="xor").to_dict(),
    "optimizer": {"name": "adam", "lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    "dtype": "float64",
    "shape": "unrolled",
    "step": 3,
    "symgrad": "0.1.0",
}
XOR_ARRAYS = {
    **{f"{s}{p}": np.zeros(shape) for s in ("", "m_", "v_") for p, shape in
       (("W1", (4, 2)), ("b1", (4,)), ("W2", (1, 4)), ("b2", (1,)))},
}  # fmt: skip


def test_a_declared_network_is_checked_against_the_arrays_before_compiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 2.5 kB file that declares sizes [20000, 20000, 1] is refused from the arrays' headers:
    nothing is compiled, and nothing of the declared size is allocated."""
    _no_compile(monkeypatch)
    huge = {**XOR_META, "network": {**XOR_META["network"], "sizes": [20000, 20000, 1]}}  # type: ignore[dict-item]
    cases = {
        "huge net": (huge, XOR_ARRAYS, r"W1 must have shape \(20000, 20000\) as the declaration says, but"),
        "state shape": (XOR_META, {**XOR_ARRAYS, "v_b1": np.zeros(5)}, r"array v_b1 must have shape \(4,\)"),
        "state dtype": (XOR_META, {**XOR_ARRAYS, "m_W2": np.zeros((1, 4), np.float32)},
                        "array m_W2 has dtype float32, the declaration says float64"),
        "no state": (XOR_META, {k: v for k, v in XOR_ARRAYS.items() if not k.startswith("v_")},
                     "missing v_W1, v_b1, v_W2, v_b2"),
        "other optimizer": ({**XOR_META, "optimizer": {"name": "sgd", "lr": 0.1}}, XOR_ARRAYS, "unknown m_W1, m_W2"),
        "big endian": (XOR_META, {**XOR_ARRAYS, "W1": np.zeros((4, 2), ">f8")}, "array W1 has dtype >f8"),
    }  # fmt: skip
    for name, (meta, arrays, message) in cases.items():
        path = _weights_file(tmp_path / "w.npz", meta, arrays)
        assert path.stat().st_size < 5000
        tracemalloc.start()
        try:
            with pytest.raises(sg.SpecError, match=message) as info:
                sg.Model.load(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value), name
        assert peak < 10_000_000, (name, peak)
    monkeypatch.setattr(weights_module, "physical_memory", lambda: 400)  # a machine of 400 bytes
    path = _weights_file(tmp_path / "w.npz", XOR_META, XOR_ARRAYS)
    with pytest.raises(sg.SpecError, match="its arrays hold 408 bytes, more than this machine"):
        sg.Model.load(path)


def _declarations() -> dict[str, tuple[str, str]]:
    """Declarations (JSON text) a weights file may carry, and what the refusal says."""
    net = XOR_META["network"]
    assert isinstance(net, dict)

    def meta(**change: object) -> str:
        return json.dumps({**XOR_META, **change})

    return {
        "deep": ('{"network": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        "deep but parsed": (meta(network=json.loads("[" * 50 + "]" * 50)), "nested more than 16 levels"),
        "lr 1e400": (meta(optimizer={"name": "sgd", "lr": 1e300}).replace("1e+300", "1e400"),
                     "number 1e400 is out of range"),
        "lr 10**400": (meta(optimizer={"name": "sgd", "lr": 10**400}), "is too large"),
        "NaN": (meta(optimizer={"name": "sgd", "lr": float("nan")}), "NaN is not a number"),
        "Infinity": (meta(step=float("inf")), "Infinity is not a number"),
        "lr string": (meta(optimizer={"name": "sgd", "lr": "0.1"}), "optimizer: SGD lr must be a positive number"),
        "lr negative": (meta(optimizer={"name": "sgd", "lr": -1}), "SGD lr must be a positive number"),
        "beta 2": (meta(optimizer={"name": "momentum", "lr": 0.1, "beta": 2}), "Momentum beta must be a number"),
        "name list": (meta(optimizer={"name": ["sgd"], "lr": 0.1}), "optimizer must be a mapping with name one of"),
        "optimizer list": (meta(optimizer=["sgd"]), "optimizer must be a mapping"),
        "setting": (meta(optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9}), "has no setting 'momentum'"),
        "step -1": (meta(step=-1), "step -1; it must be a whole number"),
        "step 1.5": (meta(step=1.5), "step 1.5"),
        "step true": (meta(step=True), "step True"),
        "step 1e16": (meta(step=10**16), "step 10000000000000000"),
        "step string": (meta(step="3"), "step '3'"),
        "dtype": (meta(dtype="float16"), "dtype 'float16'"),
        "dtype list": (meta(dtype=["float64"]), "dtype ['float64']"),
        "shape": (meta(shape={"a": 1}), "shape {'a': 1}"),
        "format": (meta(format=2), "format 2; this symgrad reads format 1"),
        "format true": (meta(format=True), "format True"),
        "unknown": (meta(extra=1), "unknown field 'extra'"),
        "missing": (json.dumps({k: v for k, v in XOR_META.items() if k != "step"}), "no field 'step'"),
        "list": ("[1, 2]", "not a mapping but list"),
        "version": (meta(symgrad=["0.1"]), "symgrad ['0.1']"),
        "sizes": (meta(network={**net, "sizes": [2, "x", 1]}), "network: "),
        "sizes huge": (meta(network={**net, "sizes": [2, 10**17, 1]}), "network: "),
        "sizes float": (meta(network={**net, "sizes": [2, 4.5, 1]}), "network: "),
        "activations": (meta(network={**net, "activations": 5}), "network: "),
        "cost list": (meta(network={**net, "cost": ["quadratic"]}), "network: "),
        "bias": (meta(network={**net, "bias": "yes"}), "network: "),
        "network list": (meta(network=[1]), "network: "),
        "formula": (meta(network={**net, "user_activations": {"f": "__import__('os')"}}), "network: "),
        "formula type": (meta(network={**net, "user_activations": {"f": 3}}), "network: "),
        "formula list": (meta(network={**net, "user_activations": [1]}), "network: "),
        "not json": ("{not json", "Expecting property name"),
    }  # fmt: skip


def test_every_part_of_a_declaration_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_compile(monkeypatch)
    for name, (text, message) in _declarations().items():
        path = tmp_path / "w.npz"
        buf = io.BytesIO()
        np.savez(buf, **XOR_ARRAYS, __symgrad__=np.array(text))
        path.write_bytes(buf.getvalue())
        with pytest.raises(sg.SpecError) as info:
            sg.Model.load(path)
        line = str(info.value)
        assert line.startswith(f"{path}: the symgrad declaration is malformed ("), (name, line)
        assert message in line and "\n" not in line, (name, line)
        assert line.endswith("; save the weights with Model.save"), (name, line)
        with pytest.raises(sg.SpecError):
            model_module.read_weights(path)


def test_a_good_declaration_loads_without_compiling_in_read_weights(tmp_path: Path) -> None:
    path = _weights_file(tmp_path / "w.npz", XOR_META, {**XOR_ARRAYS, "b2": np.ones(1)})
    saved = model_module.read_weights(path)
    assert saved.net.sizes == (2, 4, 1) and saved.optimizer == sg.Adam(lr=0.01)
    assert saved.step == 3 and saved.dtype == "float64" and saved.shape == "unrolled"
    assert list(saved.params) == ["W1", "b1", "W2", "b2"] and saved.params["b2"][0] == 1.0
    assert list(saved.state) == [f"{s}_{p}" for s in "mv" for p in ("W1", "b1", "W2", "b2")]
    nan = _weights_file(tmp_path / "nan.npz", XOR_META, {**XOR_ARRAYS, "m_b1": np.full(4, np.nan)})
    with pytest.raises(sg.SpecError, match=r"nan\.npz: array m_b1 contains NaN or infinity"):
        model_module.read_weights(nan)


def test_optimizers_take_numpy_numbers_and_refuse_absurd_ones() -> None:
    assert sg.SGD(lr=np.float32(0.5)).lr == 0.5 and type(sg.SGD(lr=np.float32(0.5)).lr) is float
    adam = sg.Adam(
        lr=np.float64(0.01), beta1=np.float32(0.5), beta2=np.float16(0.25), eps=np.int64(1)
    )
    assert adam.to_dict() == {"name": "adam", "lr": 0.01, "beta1": 0.5, "beta2": 0.25, "eps": 1.0}
    assert "np." not in adam.describe()
    assert sg.Momentum(lr=np.int32(2), beta=np.float64(0.0)).settings() == {"lr": 2.0, "beta": 0.0}
    assert sg.SGD(lr=np.float32(0.5)) == sg.SGD(lr=0.5)
    bad: list[tuple[object, str]] = [
        (lambda: sg.SGD(lr=10**400), "SGD lr must be a positive number, got 1000000000"),
        (lambda: sg.SGD(lr=10**5000), "got a number too large to show"),
        (lambda: sg.SGD(lr=np.bool_(True)), "SGD lr must be a positive number"),
        (lambda: sg.SGD(lr=True), "SGD lr must be a positive number"),
        (lambda: sg.SGD(lr=np.float64("inf")), "SGD lr must be a positive number"),
        (lambda: sg.Adam(eps=-(10**400)), "Adam eps must be a positive number"),
        (lambda: sg.Momentum(beta=10**400), r"Momentum beta must be a number in \[0, 1\)"),
        (lambda: sg.Momentum(beta=np.float64("nan")), r"beta must be a number in \[0, 1\)"),
        (lambda: sg.Adam(beta2=np.complex128(0.5)), r"beta2 must be a number in \[0, 1\)"),
        (lambda: optim.optimizer_from_dict({"name": ["sgd"]}), "name one of sgd"),
        (lambda: optim.optimizer_from_dict({"name": "sgd", 1: 2, "x": 3}), "no setting 1"),
        (lambda: optim.optimizer_from_dict({"name": "adam", "lr": 10**400}), "Adam lr must"),
    ]
    for make, message in bad:
        with pytest.raises(sg.SpecError, match=message):
            make()  # type: ignore[operator]


def test_out_of_memory_while_loading_names_the_file(
    xor: sg.Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = xor.save(tmp_path / "w.npz")

    def exhausted(*args: object, **kwargs: object) -> None:
        raise MemoryError

    for owner, name, fragment in (
        (np, "empty", "out of memory while reading array"),  # the arrays read from the file
        (np, "isfinite", "out of memory while reading it"),  # read_weights' check
        (sg.Model, "_checked", "out of memory while loading its 17 parameters"),  # the model's copy
    ):
        with monkeypatch.context() as patch:
            patch.setattr(owner, name, exhausted)
            with pytest.raises(sg.SpecError) as info:
                (model_module.read_weights if name == "isfinite" else sg.Model.load)(path)
        message = str(info.value)
        assert message.startswith(f"{path}: {fragment}") and "\n" not in message, message
    assert sg.Model.load(path).step == xor.step
