"""Training a practitioner steers: validation and metrics, early stopping, learning-rate schedules
(step for step as ``torch.optim.lr_scheduler``), checkpoints and callbacks, and the fast path that
runs many epochs per compiled call when none of them is asked for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from torch_case import data, linears

import symgrad as sg
from symgrad.runtime import fitting

torch = pytest.importorskip("torch")

SOFTMAX = sg.Network.mlp([4, 6, 3], hidden="tanh", output="softmax", cost="cross_entropy")
BINARY = sg.Network.mlp(
    [2, 4, 1], hidden="tanh", output="sigmoid", cost="binary_cross_entropy", name="binary"
)


@pytest.fixture(scope="module")
def sgd() -> sg.Model:
    return sg.compile(SOFTMAX, sg.SGD(lr=0.1), shape="blas")


@pytest.fixture(scope="module")
def adam() -> sg.Model:
    return sg.compile(SOFTMAX, sg.Adam(lr=0.01), shape="blas")


@pytest.fixture(scope="module")
def unrolled() -> sg.Model:
    return sg.compile(SOFTMAX, sg.SGD(lr=0.1), shape="unrolled")


@pytest.fixture(scope="module")
def binary() -> sg.Model:
    return sg.compile(BINARY, sg.SGD(lr=0.5))


def classes(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and integer labels of three classes that a 4-6-3 net can mostly separate."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, (rows, 4))
    labels = (X[:, 0] > 0.3).astype(int) + (X[:, 1] > 0.0).astype(int)
    return X, labels


class Spy:
    """The model's compiled functions, counting the calls of train_epochs."""

    def __init__(self, fns: object) -> None:
        self.fns, self.calls = fns, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.fns, name)

    def train_epochs(self, *args: object) -> object:
        self.calls += 1
        return self.fns.train_epochs(*args)


def spied(model: sg.Model) -> Spy:
    spy = Spy(model._fns)
    model._compiled = spy
    return spy


# ------------------------------------------------------------------------------------------------
# Schedules: torch.optim.lr_scheduler step for step
# ------------------------------------------------------------------------------------------------
SCHEDULES = {
    "step": (sg.StepLR(2, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 2, gamma=0.5)),
    "exponential": (
        sg.ExponentialLR(0.8),
        lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.8),
    ),
    "cosine": (
        sg.CosineLR(3, eta_min=0.001),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=3, eta_min=0.001),
    ),
    # a threshold no epoch beats: the rate falls after every patience + 1 epochs
    "plateau": (
        sg.ReduceLROnPlateau(factor=0.5, patience=1, threshold=0.5, monitor="loss"),
        lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
            o, factor=0.5, patience=1, threshold=0.5
        ),
    ),
}


def torch_epochs(net, layers, opt, scheduler, X, Y, batch: int, epochs: int):
    """Train as a torch user does, the scheduler stepped after each epoch: (lr, mean loss) per epoch."""
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y).argmax(dim=1)
    out = []
    for _ in range(epochs):
        lr = opt.param_groups[0]["lr"]
        seen = 0.0
        for start in range(0, len(X), batch):
            opt.zero_grad()
            part = slice(start, start + batch)
            z = torch.tanh(layers[0](Xt[part]))
            loss = torch.nn.functional.cross_entropy(layers[1](z), Yt[part])
            loss.backward()
            opt.step()
            seen += loss.item() * len(Xt[part])
        mean = seen / len(X)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(mean)
        else:
            scheduler.step()
        out.append((lr, mean))
    return out


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedules_follow_torch_step_for_step(name: str, opt: str, request) -> None:
    model = request.getfixturevalue(opt).init(seed=2)
    ours, theirs = SCHEDULES[name]
    X, Y = data(SOFTMAX, 20, 5)  # batches of 8: 8, 8, 4
    layers = linears(SOFTMAX, model.params)
    params = [p for lin in layers for p in lin.parameters()]
    torch_opt = (
        torch.optim.SGD(params, lr=0.1) if opt == "sgd" else torch.optim.Adam(params, lr=0.01)
    )
    expected = torch_epochs(SOFTMAX, layers, torch_opt, theirs(torch_opt), X, Y, 8, 7)
    hist = model.fit(X, Y, epochs=7, batch_size=8, shuffle=False, schedule=ours, progress=False)
    assert hist.lr == [lr for lr, _ in expected]  # the same float64 arithmetic, to the bit
    np.testing.assert_allclose(hist.loss, [loss for _, loss in expected], rtol=1e-11)
    for l, lin in enumerate(layers, start=1):
        np.testing.assert_allclose(model.params[f"W{l}"], lin.weight.detach().numpy(), atol=1e-12)
    if name == "plateau":
        assert hist.lr[-1] < hist.lr[0]  # it did fall


def test_cosine_turns_back_up_after_t_max_as_torch_does() -> None:
    """Past t_max the rate climbs back (torch's recursive form, its own branch at the bottom)."""
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4, eta_min=0.01)
    run = sg.CosineLR(4, 0.01).start(0.3)
    for _ in range(13):
        opt.step()
        sched.step()
        assert run.step() == sched.get_last_lr()[0]


def test_plateau_watches_the_validation_loss_with_cooldown() -> None:
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.3, patience=2, cooldown=1, min_lr=0.05, threshold=0.01, threshold_mode="abs"
    )
    run = sg.ReduceLROnPlateau(
        factor=0.3, patience=2, cooldown=1, min_lr=0.05, threshold=0.01, threshold_mode="abs"
    ).start(1.0)
    values = [1.0, 0.9, 0.895, 0.9, 0.91, 0.8, 0.85, 0.86, 0.87, 0.88, 0.9, 0.95, 0.99, 1.0, 1.1]
    for value in values:
        opt.step()
        sched.step(value)
        assert run.step(value) == sched.get_last_lr()[0]


def test_a_schedule_leaves_the_model_s_optimiser_alone(sgd: sg.Model) -> None:
    X, Y = data(SOFTMAX, 12, 1)
    sgd.init(seed=0)
    hist = sgd.fit(X, Y, epochs=4, schedule=sg.ExponentialLR(0.5), progress=False)
    assert hist.lr == [0.1, 0.05, 0.025, 0.0125]
    assert sgd.optimizer.lr == 0.1 and sgd._hyper[0] == 0.1


def test_a_schedule_runs_in_the_unrolled_shape_and_in_float32(unrolled: sg.Model) -> None:
    X, Y = data(SOFTMAX, 12, 1)
    unrolled.init(seed=0)
    hist = unrolled.fit(X, Y, epochs=3, schedule=sg.StepLR(1, 0.5), progress=False)
    assert hist.lr == [0.1, 0.05, 0.025]
    float32 = sg.compile(BINARY, sg.SGD(lr=0.5), dtype="float32")
    Xb, yb = np.random.default_rng(0).normal(size=(10, 2)), np.arange(10) % 2
    hist = float32.fit(Xb, yb.reshape(-1, 1), epochs=3, schedule=sg.StepLR(1, 0.5), progress=False)
    assert hist.lr == [0.5, 0.25, 0.125]


# ------------------------------------------------------------------------------------------------
# Validation and metrics
# ------------------------------------------------------------------------------------------------
def test_validation_split_holds_out_a_seeded_choice_of_rows(sgd: sg.Model) -> None:
    X, labels = classes(50, 3)
    sgd.init(seed=0)
    hist = sgd.fit(X, labels, epochs=3, validation_split=0.2, seed=7, progress=False)
    train_rows, val_rows = fitting.split_rows(50, 0.2, 7)
    assert len(val_rows) == 10 and len(train_rows) == 40
    assert not set(train_rows) & set(val_rows)
    assert hist.val_loss[-1] == sgd.loss(X[val_rows], labels[val_rows])
    # the same run trained on the training rows alone
    again = sgd.init(seed=0).fit(
        X[train_rows], labels[train_rows], epochs=3, seed=7, progress=False,
        validation=(X[val_rows], labels[val_rows]),
    )  # fmt: skip
    assert again.loss == hist.loss and again.val_loss == hist.val_loss
    other = fitting.split_rows(50, 0.2, 8)[1]
    assert set(other) != set(val_rows)


def test_accuracy_is_computed_in_compiled_code(sgd: sg.Model, binary: sg.Model) -> None:
    X, labels = classes(60, 4)
    sgd.init(seed=1)
    hist = sgd.fit(
        X, labels, epochs=5, metrics=["accuracy"], validation=(X[:20], labels[:20]), progress=False
    )
    assert len(hist.accuracy) == len(hist.val_accuracy) == len(hist.val_loss) == 5
    expected = float(np.mean(sgd.predict(X).argmax(axis=1) == labels))
    assert hist.accuracy[-1] == expected
    assert hist.val_accuracy[-1] == float(
        np.mean(sgd.predict(X[:20]).argmax(axis=1) == labels[:20])
    )
    one_hot = np.eye(3)[labels]
    assert sgd.evaluate(X, one_hot) == {"loss": sgd.loss(X, labels), "accuracy": expected}
    assert sgd.evaluate(X, labels, metrics=[]) == {"loss": sgd.loss(X, labels)}
    assert sorted(hist.to_dict()) == [
        "accuracy", "loss", "lr", "time", "val_accuracy", "val_loss",
    ]  # fmt: skip
    assert all(b > a for a, b in zip(hist.time, hist.time[1:], strict=False))
    # one output: two classes, on either side of 1/2
    Xb = np.random.default_rng(0).normal(size=(30, 2))
    yb = (Xb[:, 0] > 0).astype(float).reshape(-1, 1)
    binary.init(seed=0)
    hist = binary.fit(Xb, yb, epochs=3, metrics=["accuracy"], progress=False)
    assert hist.accuracy[-1] == float(np.mean((binary.predict(Xb) > 0.5) == (yb > 0.5)))


def test_accuracy_on_a_regression_target_is_refused(binary: sg.Model, sgd: sg.Model) -> None:
    Xb = np.zeros((4, 2))
    with pytest.raises(sg.SpecError, match=r"needs class targets, but Y holds 0.3, which is no"):
        binary.fit(Xb, [[0.3], [1], [0], [1]], metrics=["accuracy"], progress=False)
    soft = np.full((4, 3), 1 / 3)
    with pytest.raises(sg.SpecError, match=r"Y holds 0\.333333, which is no class"):
        sgd.evaluate(np.zeros((4, 4)), soft, metrics=["accuracy"])
    with pytest.raises(sg.SpecError, match="unknown metric 'acc'; the metrics are accuracy"):
        sgd.fit(np.zeros((4, 4)), [0, 1, 2, 0], metrics=["acc"])


# ------------------------------------------------------------------------------------------------
# Early stopping
# ------------------------------------------------------------------------------------------------
def noisy(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Few rows of random labels: a 4-6-3 net learns them by heart, and its validation loss
    rises soon after it starts."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, 4)), rng.integers(0, 3, rows)


def test_early_stopping_restores_the_best_epoch(adam: sg.Model) -> None:
    X, labels = noisy(40, 9)
    adam.init(seed=0)
    adam.optimizer = sg.Adam(lr=0.05)
    states = []  # the optimiser state after each epoch, as the callback sees it
    hist = adam.fit(
        X, labels, epochs=300, batch_size=8, validation_split=0.25, metrics=["accuracy"],
        early_stopping=sg.EarlyStopping(patience=4), progress=False,
        callbacks=[lambda epoch, logs: states.append((adam.optimizer_state, adam.params))],
    )  # fmt: skip
    adam.optimizer = sg.Adam(lr=0.01)
    assert hist.stopped_early and "val_loss did not improve for 4 epochs" in hist.stop_reason
    assert len(hist) == hist.best_epoch + 5 < 300
    _, val_rows = fitting.split_rows(40, 0.25, 0)
    final = adam.evaluate(X[val_rows], labels[val_rows])["loss"]
    assert final == min(hist.val_loss) == hist.val_loss[hist.best_epoch]
    state, params = states[hist.best_epoch]
    assert adam.step == state["step"] < states[-1][0]["step"]
    for name, arr in state.items():
        if name != "step":
            np.testing.assert_array_equal(adam.optimizer_state[name], arr)
    for name, arr in params.items():
        np.testing.assert_array_equal(adam.params[name], arr)


def test_early_stopping_without_restore_keeps_the_last_weights(sgd: sg.Model) -> None:
    X, labels = classes(30, 2)
    sgd.init(seed=0)
    seen = []
    hist = sgd.fit(
        X, labels, epochs=50, validation=(X, labels), progress=False,
        early_stopping=sg.EarlyStopping(patience=2, min_delta=10.0, restore_best=False),
        callbacks=[lambda epoch, logs: seen.append(sgd.params["W1"])],
    )  # fmt: skip
    # no epoch beats the first by 10: the run ends after 1 + patience epochs
    assert len(hist) == 3 and hist.best_epoch == 0 and hist.stopped_early
    np.testing.assert_array_equal(sgd.params["W1"], seen[-1])


def test_early_stopping_may_watch_accuracy_which_must_rise(sgd: sg.Model) -> None:
    X, labels = classes(30, 2)
    sgd.init(seed=0)
    hist = sgd.fit(
        X, labels, epochs=40, metrics=["accuracy"], progress=False,
        early_stopping=sg.EarlyStopping(patience=3, monitor="accuracy"),
    )  # fmt: skip
    assert hist.accuracy[hist.best_epoch] == max(hist.accuracy)
    assert hist.best_epoch == hist.accuracy.index(max(hist.accuracy))


# ------------------------------------------------------------------------------------------------
# Callbacks, checkpoints, and the fast path
# ------------------------------------------------------------------------------------------------
def test_a_callback_sees_each_epoch_and_may_stop_the_run(sgd: sg.Model) -> None:
    X, labels = classes(30, 2)
    sgd.init(seed=0)
    calls = []

    def enough(epoch: int, logs: dict[str, float]) -> bool:
        calls.append((epoch, dict(logs)))
        return epoch < 3

    hist = sgd.fit(X, labels, epochs=10, callbacks=[enough], progress=False)
    assert [e for e, _ in calls] == [0, 1, 2, 3] and len(hist) == 4
    assert hist.stopped_early and "enough" in hist.stop_reason
    assert calls[2][1]["loss"] == hist.loss[2] and calls[2][1]["lr"] == 0.1
    assert sorted(calls[0][1]) == ["loss", "lr", "time"]


def test_the_fast_path_stays_without_controls(sgd: sg.Model) -> None:
    X, labels = classes(30, 2)
    sgd.init(seed=0)
    spy = spied(sgd)
    try:
        sgd.fit(X, labels, epochs=200, progress=False)
        fast = spy.calls
        spy.calls = 0
        sgd.fit(X, labels, epochs=20, progress=False, callbacks=[lambda e, logs: None])
        assert spy.calls == 20  # one compiled call per epoch
        spy.calls = 0
        sgd.fit(X, labels, epochs=20, progress=False, checkpoint=None, schedule=sg.StepLR(5))
        assert spy.calls == 20
    finally:
        sgd._compiled = None
    assert fast < 20  # many epochs per call


def test_checkpoints_are_written_every_n_epochs(sgd: sg.Model, tmp_path: Path) -> None:
    X, labels = classes(32, 2)  # batches of 8: 4 steps an epoch
    ckpt = tmp_path / "ckpt.npz"
    sgd.init(seed=0)
    spy = spied(sgd)
    try:
        sgd.fit(
            X, labels, epochs=7, batch_size=8, checkpoint=ckpt, checkpoint_every=3, progress=False
        )
    finally:
        sgd._compiled = None
    assert spy.calls >= 3  # cut at epochs 3 and 6 and still many epochs per call
    assert sg.Model.load(ckpt).step == 28  # the end of the run
    steps = []
    sgd.init(seed=0)
    sgd.fit(
        X, labels, epochs=7, batch_size=8, checkpoint=ckpt, checkpoint_every=3, progress=False,
        callbacks=[lambda e, logs: steps.append(sg.Model.load(ckpt).step if ckpt.exists() else None)],
    )  # fmt: skip
    # a callback runs before the epoch's checkpoint: epochs 3 and 6 write after their callbacks
    assert steps == [28, 28, 28, 12, 12, 12, 24]  # the first three: the file of the run before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]  # no temporary file left


def test_a_diverging_run_keeps_the_last_good_checkpoint(sgd: sg.Model, tmp_path: Path) -> None:
    X, labels = classes(32, 2)  # batches of 8: 4 steps an epoch
    ckpt = tmp_path / "ckpt.npz"
    sgd.init(seed=0)
    with pytest.raises(sg.DivergenceError) as info:  # a rate that overflows to inf by epoch 12
        sgd.fit(X, labels, epochs=20, batch_size=8, checkpoint=ckpt, progress=False,
                schedule=sg.ExponentialLR(1e30))  # fmt: skip
    saved = sg.Model.load(ckpt)
    assert saved.step == 4 * (info.value.epoch - 1) > 0
    assert all(np.isfinite(arr).all() for arr in saved.params.values())
    np.testing.assert_array_equal(saved.params["W1"], sgd.params["W1"])


def test_a_killed_run_leaves_the_last_checkpoint_whole(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt.npz"
    script = textwrap.dedent(
        f"""
        import numpy as np, symgrad as sg
        net = sg.Network.mlp([4, 6, 3], hidden="tanh", output="softmax", cost="cross_entropy")
        model = sg.compile(net, sg.SGD(lr=0.1), shape="blas")
        X = np.random.default_rng(0).normal(size=(64, 4))
        model.fit(X, np.arange(64) % 3, epochs=10**7, checkpoint={str(ckpt)!r}, progress=False)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    try:
        deadline = time.monotonic() + 120
        while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(0.3)  # a few more checkpoints, one of them perhaps half-written
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    model = sg.Model.load(ckpt)
    assert model.step > 0 and np.isfinite(model.params["W1"]).all()


# ------------------------------------------------------------------------------------------------
# Bad input: one clear error before training starts
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"validation_split": 0.0}, "validation_split must lie strictly between 0 and 1"),
        ({"validation_split": 1.0}, "validation_split must lie strictly between 0 and 1"),
        ({"validation_split": 0.99}, "leaves no training row"),
        ({"validation_split": 1e-17}, "leaves no validation row"),
        ({"validation_split": 0.5, "validation": ([[0] * 4], [0])}, "not both"),
        ({"early_stopping": sg.EarlyStopping()}, "watches 'val_loss', which needs validation"),
        (
            {"early_stopping": {"patience": 2, "monitor": "accuracy"}},
            "watches 'accuracy': add metrics=\\[\"accuracy\"\\]",
        ),
        ({"early_stopping": 5}, "early_stopping must be sg.EarlyStopping"),
        ({"schedule": "cosine"}, "schedule must be sg.StepLR"),
        (
            {"schedule": {"name": "cosin", "t_max": 3}},
            "unknown schedule 'cosin'; did you mean 'cosine'",
        ),
        ({"schedule": sg.ReduceLROnPlateau()}, "ReduceLROnPlateau watches 'val_loss'"),
        ({"checkpoint": "no/such/folder/c.npz"}, "the folder 'no/such/folder' does not exist"),
        ({"checkpoint": "c.txt"}, "must end in .npz"),
        ({"checkpoint_every": 0}, "checkpoint_every must be a whole number >= 1"),
        ({"checkpoint_every": True}, "checkpoint_every must be a whole number, got True"),
        ({"batch_size": True}, "batch_size must be a whole number, got True"),
        ({"batch_size": 0}, "batch_size must be a whole number >= 1"),
        ({"shuffle": 1}, "shuffle must be True or False"),
        ({"callbacks": print}, "callbacks must be a list of functions"),
        ({"callbacks": [1]}, "each callback must be a function"),
    ],
)
def test_bad_controls_are_refused_before_training(sgd: sg.Model, kwargs, says: str) -> None:
    X, labels = classes(10, 2)
    sgd.init(seed=0)
    with pytest.raises(sg.SpecError, match=says):
        sgd.fit(X, labels, epochs=3, progress=False, **kwargs)
    assert sgd.step == 0


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: sg.StepLR(0), "StepLR step_size must be a whole number >= 1"),
        (lambda: sg.ExponentialLR(-0.5), "ExponentialLR gamma must be a positive number"),
        (lambda: sg.CosineLR(2.5), "CosineLR t_max must be a whole number"),
        (lambda: sg.ReduceLROnPlateau(factor=1.5), "factor must lie between 0 and 1"),
        (lambda: sg.ReduceLROnPlateau(monitor="val_los"), "did you mean 'val_loss'"),
        (lambda: sg.EarlyStopping(monitor="acc"), "unknown key 'acc'"),
        (lambda: sg.EarlyStopping(patience=-1), "patience must be a whole number >= 0"),
        (lambda: sg.EarlyStopping(min_delta=-1.0), "min_delta must be a number >= 0"),
    ],
)
def test_bad_controls_are_one_clear_error(make, says: str) -> None:
    with pytest.raises(sg.SpecError, match=says):
        make()


def test_history_names_its_figures() -> None:
    hist = sg.History()
    with pytest.raises(sg.SpecError, match="a History has no 'val_acc'"):
        hist["val_acc"]


# ------------------------------------------------------------------------------------------------
# TOML and the command line
# ------------------------------------------------------------------------------------------------
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
IRIS = """
[network]
sizes = [4, 8, 3]
hidden = "tanh"
output = "softmax"
cost = "cross_entropy"

[optimizer]
name = "adam"
lr = 0.02

[train]
epochs = 60
batch_size = 16
data = "iris"
"""


def cli(capsys, *args: str) -> tuple[int, str, str]:
    from symgrad.cli import main

    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_the_spec_s_train_table_takes_the_controls() -> None:
    spec = sg.load_spec(EXAMPLES / "iris.toml")
    train = spec.train
    assert train.validation_split == 0.2 and train.metrics == ("accuracy",)
    assert train.early_stopping == sg.EarlyStopping(patience=10)
    assert train.schedule == sg.CosineLR(200)


def test_train_holds_out_rows_stops_early_and_checkpoints(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "iris.toml"
    spec.write_text(
        IRIS + "validation_split = 0.2\nearly_stopping = { patience = 3, min_delta = 5.0 }\n"
        'schedule = { name = "step", step_size = 5, gamma = 0.5 }\n',
        encoding="utf-8",
    )
    ckpt, plot = tmp_path / "ckpt.npz", tmp_path / "curves.svg"
    status, out, err = cli(
        capsys, "train", str(spec), "--no-progress", "--checkpoint", str(ckpt),
        "--checkpoint-every", "2", "--plot", str(plot),
    )  # fmt: skip
    assert status == 0, err
    assert "validation 24 of the 120 training rows held out (seed 0)" in out
    assert "StepLR(step_size=5, gamma=0.5)" in out
    # min_delta 5: no epoch beats the first by that much, so the run ends after 1 + 3
    assert "stopped    after epoch 4: early stopping: val_loss did not improve for 3 epochs" in out
    for name in ("train set ", "validation", "test set  "):
        assert any(line.startswith(name) and "accuracy" in line for line in out.splitlines())
    assert sg.Model.load(ckpt).step == 6  # the best epoch, the first: 96 rows in batches of 16
    svg = plot.read_text(encoding="utf-8")
    assert "validation accuracy" in svg and "training cost" in svg


def test_train_options_override_the_spec(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "iris.toml"
    spec.write_text(IRIS, encoding="utf-8")
    status, out, err = cli(
        capsys, "train", str(spec), "--no-progress", "--epochs", "6", "--validation-split", "0.25",
        "--early-stopping", "2", "--monitor", "val_accuracy", "--schedule", "exponential:gamma=0.9",
    )  # fmt: skip
    assert status == 0, err
    assert "30 of the 120 training rows held out" in out
    assert "ExponentialLR(gamma=0.9)" in out and "monitor='val_accuracy'" in out


@pytest.mark.parametrize(
    ("train", "args", "says"),
    [
        ("validation_split = 1.5", [], "[train] validation_split: must be a fraction strictly"),
        ('metrics = ["f1"]', [], "unknown metric 'f1'"),
        ('schedule = { name = "linear" }', [], "unknown schedule 'linear'"),
        ('schedule = { name = "cosine" }', [], "CosineLR needs t_max"),
        ("schedule = { name = 'step', step_size = 2, gama = 0.5 }", [], "no setting 'gama'"),
        (
            "early_stopping = { patience = 5, monitor = 'val_acc' }",
            [],
            "did you mean 'val_accuracy'",
        ),
        (
            "early_stopping = { patience = 5 }",
            [],
            "needs held-out rows: add [train] validation_split",
        ),
        (
            "early_stopping = { patience = 5 }",
            ["--validation-split", "1"],
            "must lie strictly between 0 and 1",
        ),
        ("checkpoint_every = 0", [], "[train] checkpoint_every: must be a whole number >= 1"),
        ('checkpoint = "ckpt.txt"', [], "[train] checkpoint: must be the path of a .npz file"),
        ("", ["--checkpoint", "missing/ckpt.npz"], "folder 'missing' does not exist"),
        ("", ["--schedule", "cosine:t_max"], "'t_max' is not KEY=VALUE"),
        ("", ["--metrics", "accuracy,top5"], "unknown metric 'top5'"),
        ("", ["--monitor", "lost"], "did you mean 'loss'"),
    ],
)
def test_train_refuses_bad_controls_in_one_line(tmp_path: Path, capsys, train, args, says) -> None:
    spec = tmp_path / "iris.toml"
    spec.write_text(IRIS + train + "\n", encoding="utf-8")
    status, out, err = cli(capsys, "train", str(spec), "--no-progress", *args)
    assert status == 2 and out == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["iris.toml"]
