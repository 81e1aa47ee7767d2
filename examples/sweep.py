"""A sweep on a local Dask cluster, then data-parallel training equal to a plain fit.

Needs Dask: pip install 'symgrad[dask]'. Writes sweep.csv (one row per run).
"""

from pathlib import Path

try:
    from distributed import Client, LocalCluster
except ImportError:
    raise SystemExit("This example runs on Dask: pip install 'symgrad[dask]'") from None

import numpy as np

import symgrad as sg

HERE = Path(__file__).parent

if __name__ == "__main__":  # Dask's worker processes import this file: start nothing there
    spec = sg.load_spec(HERE / "sweep.toml")
    data = sg.load_data("iris")
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0")
    with cluster, Client(cluster) as client:  # or Client("tcp://scheduler:8786"): a real cluster
        # 3 learning rates x 2 seeds: 6 runs of one network, compiled once per worker
        result = sg.sweep(spec, None, data.X, data.Y, client=client, output="sweep.csv")
        print(result.table())
        best = result.best("val_loss")
        print(f"best: lr={best['lr']}, seed={best['seed']}")
        model = result.best_model()
        print(f"its test accuracy: {model.evaluate(data.X_test, data.Y_test, ['accuracy'])}")

        # data-parallel: each batch of 32 split across the two workers, one step on the
        # weighted mean of their gradients; the same batches as fit, so the same weights
        net, opt = spec.network, sg.Adam(lr=0.01)
        a, b = sg.compile(net, opt), sg.compile(net, opt)
        sg.fit_distributed(a, data.X, data.Y, epochs=5, batch_size=32, client=client)
        b.fit(data.X, data.Y, epochs=5, batch_size=32, progress=False)
        gap = max(np.abs(a.params[k] - b.params[k]).max() for k in a.params)
        print(f"fit_distributed vs fit: largest weight difference {gap:.1e}")
        assert gap < 1e-12
