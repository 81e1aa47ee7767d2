"""A sweep's grid (symgrad.net.grid), the spec's [sweep] table, and a sweep run in this process
(workers=0): each row equals a plain init + fit, the result's best / CSV / plot / best model, and
every bad input refused with a line that names the key and the fix. The runs on Dask are in
test_parallel.py."""

from __future__ import annotations

import csv
import io
import sys

import numpy as np
import pytest

import symgrad as sg
from symgrad.io.specfile import parse_spec
from symgrad.net.grid import check_grid, configs, grid_option
from symgrad.parallel import cluster

NET = sg.Network.mlp(
    [4, 6, 3], hidden="tanh", output="softmax", cost="cross_entropy", regularization=sg.L2(1e-3)
)


def test_the_grid_is_every_combination_applied() -> None:
    opt = sg.Adam(lr=0.01)
    grid = check_grid(
        {"lr": [0.01, 0.1], "width": [4, 9], "hidden": "relu", "lam": [0, 1e-2], "seed": [0, 3]},
        NET,
        opt,
    )
    points = configs(grid, NET, opt, batch_size=16, seed=7)
    assert len(points) == 16
    last = points[-1]
    assert last.values == {"lr": 0.1, "width": 9, "hidden": "relu", "lam": 1e-2, "seed": 3}
    assert last.label() == "lr=0.1, width=9, hidden=relu, lam=0.01, seed=3"
    assert last.network.sizes == (4, 9, 3)
    assert [layer.act.name for layer in last.network.layers] == ["relu", "softmax"]
    assert last.network.regularization == sg.L2(1e-2)
    assert last.optimizer == sg.Adam(lr=0.1)  # its other values kept
    assert (last.batch_size, last.seed) == (16, 3)
    assert points[0].network.sizes == (4, 4, 3) and points[0].seed == 0


def test_sizes_may_change_the_depth_of_alike_hidden_layers() -> None:
    opt = sg.SGD()
    (deep,) = configs(check_grid({"sizes": [4, 8, 8, 3]}, NET, opt), NET, opt, 8, 0)
    assert deep.network.sizes == (4, 8, 8, 3)
    assert [layer.act.name for layer in deep.network.layers] == ["tanh", "tanh", "softmax"]
    assert deep.values["sizes"] == (4, 8, 8, 3)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({}, "the grid is empty"),
        ({"lrr": [0.1]}, "unknown grid key 'lrr' (did you mean 'lr'?)"),
        ({"beta1": [0.9]}, "'beta1' is a value of Adam and AdamW, not of SGD"),
        ({"lr": ["fast"]}, "grid lr: must be a number, got 'fast'"),
        ({"lr": [-0.1]}, "grid lr: must be a positive number"),
        ({"lr": []}, "grid key 'lr' has no values"),
        ({"seed": [1.5]}, "grid seed: must be whole numbers, got 1.5; e.g. seed=[0, 1, 2]"),
        ({"batch_size": [0]}, "grid batch_size: must lie in 1.."),
        ({"sizes": [[3, 6, 3]]}, "must keep the network's 4 inputs and 3 outputs"),
        ({"sizes": ["4-6-3"]}, "grid sizes: each value is a list of layer sizes"),
        ({"hidden": ["relux"]}, "unknown activation 'relux' (did you mean 'relu'?)"),
        ({"hidden": ["softmax"]}, "unknown activation 'softmax'"),
        ({"lam": [-1]}, "grid lam: must be a number >= 0"),
        ({"width": [4], "sizes": [[4, 5, 3]]}, "sweeps both sizes and width"),
        ({"lr": list(range(1, 400)), "seed": list(range(400))}, "more than 100,000"),
        ([("lr", 0.1)], "the grid must be a dict of lists"),
    ],
)
def test_bad_grids_name_the_key_and_the_fix(grid: object, message: str) -> None:
    with pytest.raises(sg.SpecError) as err:
        check_grid(grid, NET, sg.SGD())
    assert message in str(err.value)


def test_lam_needs_a_penalty_to_set() -> None:
    plain = sg.Network.mlp([4, 6, 3], hidden="tanh", output="softmax", cost="cross_entropy")
    with pytest.raises(sg.SpecError, match=r"no penalty .*=sg\.L2"):
        check_grid({"lam": [0.1]}, plain, sg.SGD())


def test_grid_option_reads_the_command_line() -> None:
    assert grid_option("lr=0.01,0.1") == ("lr", [0.01, 0.1])
    assert grid_option("seed=0,1") == ("seed", [0, 1])
    assert grid_option("hidden=tanh,relu") == ("hidden", ["tanh", "relu"])
    assert grid_option("sizes=4-8-3,4-16-3") == ("sizes", [[4, 8, 3], [4, 16, 3]])
    for bad, message in (
        ("lr", "write KEY=V1,V2"),
        ("lr=0.1,,0.2", "an empty value"),
        ("sizes=4-x-3", "'x' is not a whole number"),
    ):
        with pytest.raises(sg.SpecError, match=message):
            grid_option(bad)


SPEC = """
[network]
sizes = [4, 6, 3]
hidden = "tanh"
output = "softmax"
cost = "cross_entropy"
[optimizer]
name = "adam"
lr = 0.01
[sweep]
lr = [0.001, 0.01]
seed = [0, 1]
metric = "val_loss"
workers = 2
"""


def test_the_spec_sweep_table() -> None:
    spec = parse_spec(SPEC, source="s.toml")
    assert spec.sweep.grid == {"lr": [0.001, 0.01], "seed": [0, 1]}
    assert (spec.sweep.metric, spec.sweep.workers) == ("val_loss", 2)
    assert parse_spec(SPEC.split("[sweep]")[0]).sweep.grid == {}
    for bad, message in (
        ("lrr = [0.1]", r"s\.toml: \[sweep\] lrr: unknown field \(did you mean 'lr'\?\)"),
        ("beta = [0.9]", r"\[sweep\]: 'beta' is a value of Momentum, not of Adam"),
        ("lr = ['x']", r"\[sweep\]: grid lr: must be a number"),
        ("metric = 'val_los'", r"\[sweep\]: metric: unknown key 'val_los'; did you mean"),
        ("workers = 0", r"\[sweep\] workers: must be a whole number >= 1"),
    ):
        text = SPEC.split("[sweep]")[0] + "[sweep]\n" + bad + "\n"
        with pytest.raises(sg.SpecError, match=message):
            parse_spec(text, source="s.toml")


def test_a_sweep_in_this_process_equals_plain_fits(iris: sg.Dataset, tmp_path) -> None:
    out = tmp_path / "runs.csv"
    grid = {"lr": [0.02, 0.2], "seed": [0, 1], "lam": [1e-3, 1e-2]}
    result = sg.sweep(
        NET, grid, iris.X, iris.Y, epochs=4, batch_size=16, optimizer=sg.SGD(),
        validation_split=0.2, metrics=["accuracy"], workers=0, output=out,
    )  # fmt: skip
    assert len(result) == 8 and result.metric == "val_loss"
    for row, params, hist in zip(result, result.params, result.histories, strict=True):
        assert row["status"] == "ok" and row["epochs"] == 4
        net = sg.Network.mlp(
            [4, 6, 3], hidden="tanh", output="softmax", cost="cross_entropy",
            regularization=sg.L2(row["lam"]),
        )  # fmt: skip
        model = sg.compile(net, sg.SGD(lr=row["lr"]))
        model.init(seed=row["seed"])
        plain = model.fit(
            iris.X, iris.Y, epochs=4, batch_size=16, seed=row["seed"], validation_split=0.2,
            metrics=["accuracy"], progress=False,
        )  # fmt: skip
        expected = {k: v for k, v in plain.to_dict().items() if k != "time"}
        assert {k: v for k, v in hist.items() if k != "time"} == expected  # to the bit
        for name, value in model.params.items():
            np.testing.assert_array_equal(params[name], value)
        assert row["val_loss"] == plain.val_loss[-1]
        assert row["best_val_loss"] == min(plain.val_loss)
    best = result.best()
    assert best["best_val_loss"] == min(r["best_val_loss"] for r in result)
    assert result.best("val_accuracy")["best_val_accuracy"] == max(
        r["best_val_accuracy"] for r in result
    )
    model = result.best_model()
    i = result.best_index()
    np.testing.assert_array_equal(model.params["W1"], result.params[i]["W1"])
    assert model.net.regularization == sg.L2(best["lam"])
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 8 and float(rows[i]["val_loss"]) == best["val_loss"]  # every digit
    assert rows[0].keys() >= {"lr", "seed", "lam", "status", "best_val_loss", "seconds"}
    assert "lr" in result.table() and repr(result).startswith("<SweepResult: 8 configurations")
    figure = result.plot(tmp_path / "runs.png")
    assert (tmp_path / "runs.png").stat().st_size > 1000 and figure.axes


def test_a_spec_gives_the_sweep_its_defaults(iris: sg.Dataset, tmp_path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SPEC.replace("workers = 2", "") + '\n[train]\nepochs = 2\ndata = "iris"\n')
    result = sg.sweep(path, None, workers=0, validation_split=0.25)
    assert [(r["lr"], r["seed"]) for r in result] == [(0.001, 0), (0.001, 1), (0.01, 0), (0.01, 1)]
    assert all(r["epochs"] == 2 for r in result) and result.metric == "val_loss"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grid": {"batch_size": [8, 500]}}, "batch_size 500 is more than the 120 rows of X"),
        ({"metric": "val_loss"}, "watches 'val_loss', which needs validation data"),
        ({"metric": "accuracy"}, r'add metrics=\["accuracy"\]'),
        ({"epochs": None}, "sweep needs epochs=N"),
        ({"output": "runs.txt"}, "must end in .csv"),
        ({"output": "no/such/folder/runs.csv"}, "does not exist"),
        ({"Y": np.zeros((120, 2))}, r"Y must have shape \(n_samples, 3\)"),
        ({"X": np.full((120, 4), np.nan)}, "X contains NaN"),
        ({"client": 42}, "client must be a distributed.Client, a scheduler's address"),
        ({"dtype": "float16"}, "dtype must be one of float64, float32"),
        ({"optimizer": "adam"}, "optimizer must be one of sg.SGD"),
        ({"validation_split": 1.5}, "validation_split must lie strictly between 0 and 1"),
    ],
)
def test_bad_sweeps_are_refused_before_any_run(
    iris: sg.Dataset, kwargs: dict[str, object], message: str
) -> None:
    args = {"grid": {"lr": [0.1]}, "X": iris.X, "Y": iris.Y, "epochs": 1, "batch_size": 8}
    args.update(kwargs)
    grid, X, Y = args.pop("grid"), args.pop("X"), args.pop("Y")
    with pytest.raises(sg.SpecError, match=message):
        sg.sweep(NET, grid, X, Y, **args)


def test_an_unreachable_scheduler_is_one_line_after_a_bounded_wait(
    iris: sg.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1.0)
    with pytest.raises(sg.SpecError) as err:
        sg.sweep(NET, {"lr": [0.1]}, iris.X, iris.Y, epochs=1, client="tcp://127.0.0.1:9")
    text = str(err.value)
    assert text.startswith("scheduler 'tcp://127.0.0.1:9': not reached within 1 s")
    assert "dask scheduler" in text and "\n" not in text


def test_without_dask_the_error_says_what_to_install(
    iris: sg.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(sg.SpecError, match=r"pip install 'symgrad\[dask\]'"):
        sg.sweep(NET, {"lr": [0.1]}, iris.X, iris.Y, epochs=1)
    model = sg.compile(NET)
    with pytest.raises(sg.SpecError, match=r"fit_distributed runs on Dask.*symgrad\[dask\]"):
        sg.fit_distributed(model, iris.X, iris.Y, epochs=1, batch_size=8)
