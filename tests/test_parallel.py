"""Sweeps and data-parallel training on a two-process Dask LocalCluster.

- A sweep's rows equal plain ``init(seed)`` + ``fit(seed=...)`` runs; each worker compiles each
  network once; a worker killed mid-sweep loses no result.
- ``fit_distributed`` equals ``fit`` on the same batches to 1e-12 in float64, for SGD and Adam,
  from NumPy arrays and from Dask arrays whose partitions stay on their workers.
- The command line: ``symgrad sweep`` and ``symgrad train --scheduler`` against the cluster.

The tests share one cluster per pytest-xdist worker (the killed-worker test makes its own).
"""

from __future__ import annotations

import csv
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import symgrad as sg
from symgrad.cli import main

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

pytestmark = pytest.mark.slow

NET = sg.Network.mlp(
    [4, 6, 3], hidden="tanh", output="softmax", cost="cross_entropy", regularization=sg.L2(1e-3)
)
SPEC = """
[network]
sizes = [4, 6, 3]
hidden = "tanh"
output = "softmax"
cost = "cross_entropy"
regularization = { l2 = 0.001 }
[optimizer]
name = "sgd"
lr = 0.1
[train]
epochs = 3
batch_size = 16
data = "iris"
"""


def local_cluster() -> Any:
    return distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=50,
    )  # fmt: skip


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with local_cluster() as cluster, distributed.Client(cluster) as dask:
        yield dask


def plain_run(row: dict[str, Any], data: sg.Dataset, epochs: int, **fit: Any) -> Any:
    """The model and history of one configuration, trained in this process."""
    net = sg.Network.mlp(
        [4, row.get("width", 6), 3], hidden=row.get("hidden", "tanh"), output="softmax",
        cost="cross_entropy", regularization=sg.L2(row.get("lam", 1e-3)),
    )  # fmt: skip
    model = sg.compile(net, sg.SGD(lr=row["lr"]))
    model.init(seed=row["seed"])
    batch = row.get("batch_size", 16)
    hist = model.fit(
        data.X, data.Y, epochs=epochs, batch_size=batch, seed=row["seed"], progress=False, **fit
    )
    return model, hist


def test_a_sweep_on_dask_equals_plain_fits_and_compiles_each_network_once(
    client: Any, iris: sg.Dataset, tmp_path: Path
) -> None:
    grid = {"width": [6, 8], "lr": [0.05, 0.2], "seed": [0, 1], "batch_size": [16, 32]}
    out = tmp_path / "runs.csv"
    result = sg.sweep(
        NET, grid, iris.X, iris.Y, epochs=3, client=client, metrics=["accuracy"], output=out
    )
    assert len(result) == 16 and all(r["status"] == "ok" for r in result)
    assert {r["worker"] for r in result} <= set(client.scheduler_info()["workers"])
    for row, params in zip(result, result.params, strict=True):
        model, hist = plain_run(row, iris, 3, metrics=["accuracy"])
        assert row["loss"] == pytest.approx(hist.loss[-1], rel=1e-12, abs=0)
        assert row["accuracy"] == hist.accuracy[-1]
        for name, value in model.params.items():
            np.testing.assert_allclose(params[name], value, rtol=0, atol=1e-12)
    # each worker compiled each network (two widths) at most once: its other runs reused it
    fresh = [(r["worker"], r["width"]) for r in result if r["compile_seconds"] > 0.05]
    assert len(fresh) == len(set(fresh)) <= 4
    assert len(list(csv.DictReader(out.open()))) == 16  # the file holds every row at the end


def test_a_worker_killed_mid_sweep_loses_no_result(iris: sg.Dataset, tmp_path: Path) -> None:
    grid = {"lr": [0.05, 0.1, 0.2], "seed": [0, 1, 2]}
    out = tmp_path / "runs.csv"
    with local_cluster() as cluster, distributed.Client(cluster) as dask:
        pids = dask.run(os.getpid)
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["result"] = sg.sweep(
                    NET, grid, iris.X, iris.Y, epochs=150, batch_size=4, client=dask, output=out
                )
            except BaseException as exc:  # reported by the assertion below
                box["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 120
        while not out.exists() and time.monotonic() < deadline:  # the first row has arrived
            time.sleep(0.02)
        busy = [w for w, keys in dask.processing().items() if keys]
        victim = busy[0] if busy else sorted(pids)[0]
        os.kill(pids[victim], signal.SIGKILL)
        thread.join(timeout=300)
        assert not thread.is_alive() and "error" not in box, box.get("error")
        after = dask.run(os.getpid)
    result = box["result"]
    assert pids[victim] not in after.values()  # the worker did die (its nanny started another)
    assert len(result) == 9 and all(r["status"] == "ok" for r in result)
    for row in result[:3]:  # the same numbers as runs that nothing interrupted
        _, hist = plain_run({**row, "batch_size": 4}, iris, 150)
        assert row["loss"] == pytest.approx(hist.loss[-1], rel=1e-12, abs=0)


@pytest.mark.parametrize("optimizer", [sg.SGD(lr=0.1), sg.Adam(lr=0.01)], ids=["sgd", "adam"])
@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffled", "in-order"])
def test_fit_distributed_equals_fit_on_the_same_batches(
    client: Any, iris: sg.Dataset, optimizer: sg.net.optim.Optimizer, shuffle: bool
) -> None:
    a, b = sg.compile(NET, optimizer), sg.compile(NET, optimizer)
    a.init(seed=3)
    b.init(seed=3)
    # 120 rows in batches of 16: the last batch of each epoch is short
    ha = sg.fit_distributed(a, iris.X, iris.Y, epochs=3, batch_size=16, seed=5, shuffle=shuffle,
                            client=client)  # fmt: skip
    hb = b.fit(iris.X, iris.Y, epochs=3, batch_size=16, seed=5, shuffle=shuffle, progress=False)
    np.testing.assert_allclose(ha.loss, hb.loss, rtol=1e-12, atol=0)
    np.testing.assert_allclose(ha.data_loss, hb.data_loss, rtol=1e-12, atol=0)
    assert a.step == b.step == 3 * 8
    for name, value in b.params.items():
        np.testing.assert_allclose(a.params[name], value, rtol=0, atol=1e-12)
    for name, value in b.optimizer_state.items():
        np.testing.assert_allclose(a.optimizer_state[name], value, rtol=0, atol=1e-12)


def test_fit_distributed_from_dask_arrays_keeps_the_partitions_in_place(
    client: Any, iris: sg.Dataset
) -> None:
    X = client.persist(da.from_array(iris.X, chunks=(25, 4)))  # 5 partitions over 2 workers
    labels = client.persist(da.from_array(iris.Y.argmax(axis=1), chunks=25))  # class labels
    distributed.wait([X, labels])
    where = {key: sorted(ws) for key, ws in client.who_has(X).items()}
    a, b = sg.compile(NET, sg.Adam(lr=0.01)), sg.compile(NET, sg.Adam(lr=0.01))
    a.init(seed=1)
    b.init(seed=1)
    ha = sg.fit_distributed(a, X, labels, epochs=2, batch_size=32, seed=2, client=client)
    hb = b.fit(iris.X, iris.Y, epochs=2, batch_size=32, seed=2, progress=False)
    np.testing.assert_allclose(ha.loss, hb.loss, rtol=1e-12, atol=0)
    for name, value in b.params.items():
        np.testing.assert_allclose(a.params[name], value, rtol=0, atol=1e-12)
    assert {key: sorted(ws) for key, ws in client.who_has(X).items()} == where  # not moved


def test_fit_distributed_refuses_bad_input(client: Any, iris: sg.Dataset) -> None:
    model = sg.compile(NET)
    with pytest.raises(sg.SpecError, match="batch_size 500 is more than the 120 rows of X"):
        sg.fit_distributed(model, iris.X, iris.Y, batch_size=500, client=client)
    split = da.from_array(iris.X, chunks=(40, 2))
    with pytest.raises(sg.SpecError, match=r"columns in one chunk.*rechunk"):
        sg.fit_distributed(model, split, iris.Y, batch_size=8, client=client)
    bad = iris.X.copy()
    bad[77, 1] = np.nan
    with pytest.raises(sg.SpecError, match="X contains NaN"):
        sg.fit_distributed(model, da.from_array(bad, chunks=(40, 4)), iris.Y, client=client)
    dropout = sg.Network([sg.Dense(4, 6, "tanh", dropout=0.2), sg.Dense(6, 3, "softmax")],
                         cost="cross_entropy")  # fmt: skip
    with pytest.raises(sg.SpecError, match="does not train dropout layers yet"):
        sg.fit_distributed(sg.compile(dropout), iris.X, iris.Y, client=client)


def test_fit_distributed_keeps_the_last_good_weights_when_it_diverges(
    client: Any, iris: sg.Dataset
) -> None:
    line = sg.Network.mlp([4, 3], output="identity", cost="mse")
    a, b = sg.compile(line, sg.SGD(lr=1e3)), sg.compile(line, sg.SGD(lr=1e3))
    x = iris.X * 100
    with pytest.raises(sg.DivergenceError, match="epoch 2") as err:
        sg.fit_distributed(a, x, iris.Y, epochs=3, batch_size=8, client=client)
    with pytest.raises(sg.DivergenceError, match="epoch 2"):
        b.fit(x, iris.Y, epochs=3, batch_size=8, progress=False)
    assert err.value.epoch == 2 and len(err.value.history.loss) == 1  # type: ignore[attr-defined]
    assert a.step == b.step == 15  # the steps of epoch 1: its weights were put back
    for name, value in b.params.items():
        assert np.isfinite(a.params[name]).all()
        np.testing.assert_allclose(a.params[name], value, rtol=1e-12)


def test_the_command_line_sweeps_and_trains_on_a_scheduler(
    client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "iris.toml"
    spec.write_text(SPEC)
    address = client.scheduler.address
    out, save = tmp_path / "runs.csv", tmp_path / "best.npz"
    status = main([
        "sweep", str(spec), "--grid", "lr=0.05,0.2", "--grid", "seed=0,1", "--scheduler",
        address, "-o", str(out), "--save", str(save), "--no-progress",
    ])  # fmt: skip
    text = capsys.readouterr().out
    assert status == 0, text
    assert "best       lr=" in text and "4 runs in" in text and "compiling took" in text
    rows = list(csv.DictReader(out.open()))
    assert sorted((float(r["lr"]), int(r["seed"])) for r in rows) == [
        (0.05, 0), (0.05, 1), (0.2, 0), (0.2, 1)
    ]  # fmt: skip
    best = min(rows, key=lambda r: float(r["best_loss"]))
    model = sg.Model.load(save)
    assert model.optimizer == sg.SGD(lr=float(best["lr"]))
    status = main(["train", str(spec), "--scheduler", address, "--no-progress"])
    text = capsys.readouterr().out
    assert status == 0 and "data-parallel on tcp://" in text and "train set" in text


def test_the_command_line_refuses_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "iris.toml"
    spec.write_text(SPEC)
    for argv, message in (
        (["sweep", str(spec), "--grid", "lrr=0.1"], "--grid: unknown grid key 'lrr' (did you mean"),
        (["sweep", str(spec)], "nothing to sweep; give --grid KEY=V1,V2"),
        (["sweep", str(spec), "--grid", "batch_size=8,500", "--workers", "1"],
         "batch_size 500 is more than the 120 rows"),
        (["train", str(spec), "--workers", "2", "--schedule", "cosine:t_max=5"],
         "data-parallel training (--workers, --scheduler) takes no schedule yet"),
    ):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1, err
