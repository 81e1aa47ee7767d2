"""The lesson page (sg.lesson, symgrad lesson): its numbers are the NumPy reference's, it is one
self-contained file, bad input is one SpecError line, and in a real headless Chromium pressing
"next" through a training step shows each parameter's gradient and updated value."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import symgrad as sg
from symgrad.cli import main
from symgrad.verify import numeric

ROOT = Path(__file__).resolve().parent.parent


def xor_net() -> sg.Network:
    return sg.Network.mlp([2, 3, 1], hidden="sigmoid", output="sigmoid", cost="quadratic")


def xor_data() -> tuple[np.ndarray, np.ndarray]:
    return np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array(
        [[0.0], [1.0], [1.0], [0.0]]
    )


def embedded(page: str) -> dict[str, Any]:
    found = re.search(
        r'<script type="application/json" id="lesson-data">(.*?)</script>', page, re.S
    )
    assert found
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def replay(
    net: sg.Network, X: np.ndarray, Y: np.ndarray, steps: int, lr: float, seed: int = 0
) -> list[dict[str, Any]]:
    """Plain gradient descent, one row per step, by the NumPy reference."""
    params = numeric.init_params(net, seed)
    out = []
    for t in range(steps):
        x, y = X[t % len(X)][None, :], Y[t % len(X)][None, :]
        grads = numeric.gradients(net, params, x, y)
        after = {k: params[k] - lr * grads[k] for k in params}
        out.append(
            {
                "before": params,
                "grads": grads,
                "after": after,
                "data_cost": numeric.cost(net, after, X, Y),
            }
        )
        params = after
    return out


# ------------------------------------------------------------------------------------------------
# Without a browser
# ------------------------------------------------------------------------------------------------
def test_embedded_numbers_are_numpys() -> None:
    net, (X, Y) = xor_net(), xor_data()
    lesson = sg.lesson(net, X, Y, steps=6, lr=0.5)
    data = embedded(lesson.to_html())
    expected = replay(net, X, Y, 6, 0.5)
    assert len(data["steps"]) == 6
    for got, want in zip(data["steps"], expected, strict=True):
        for key in ("before", "grads", "after"):
            for name in net.param_names:
                np.testing.assert_array_equal(np.array(got[key][name]), want[key][name])
        assert got["data_cost"] == want["data_cost"]
    assert [s["row"] for s in data["steps"]] == [0, 1, 2, 3, 0, 1]
    assert data["costs"][0] == numeric.cost(net, numeric.init_params(net, 0), X, Y)
    # the boundary grid: the predictions after each update
    assert len(data["grids"]) == 7
    final = expected[-1]["after"]
    lo0, hi0, lo1, hi1 = data["bounds"]
    from symgrad.views.lesson import GRID as grid

    u = lo0 + (np.arange(grid) + 0.5) * (hi0 - lo0) / grid
    v = hi1 - (np.arange(grid) + 0.5) * (hi1 - lo1) / grid
    points = np.array([(a, b) for b in v for a in u])
    np.testing.assert_allclose(
        data["grids"][-1], numeric.forward(net, final, points)[1][-1][:, 0], atol=1e-4
    )


def test_frames_cover_forward_backward_update() -> None:
    net, (X, Y) = xor_net(), xor_data()
    lesson = sg.lesson(net, X, Y, steps=2)
    phases = [f.phase for f in lesson.frames if f.step == 0]
    assert phases[0] == "start" and phases[-1] == "done"
    assert phases.count("forward") == 3 + 3 + 1 + 1 + 1  # z, a of 3 + 1 units, then C
    assert phases.count("update") == 13  # every parameter entry
    # one backward frame for C, then one per edge that leads from a parameter or a unit
    assert phases.count("backward") == 1 + 6 + 3 + 3 + 3 + 3 + 1 + 1 + 1
    # the running dC/dnode of each parameter ends at the gradient
    shown: dict[str, float] = {}
    for f in lesson.frames:
        if f.step == 0 and f.phase == "backward":
            shown.update({k: v for k, (_, v) in f.show.items() if v is not None})
    grads = lesson.steps[0].grads
    assert shown["g-n-w1_2_1"] == pytest.approx(grads["W1"][2, 1], rel=1e-12, abs=1e-15)
    assert shown["g-n-b2_0"] == pytest.approx(grads["b2"][0], rel=1e-12)


def test_page_is_self_contained() -> None:
    net, (X, Y) = xor_net(), xor_data()
    page = sg.lesson(net, X, Y, steps=2).to_html()
    refs = re.findall(r"https?://[^\s\"'<>]*", page)
    assert set(refs) == {"http://www.w3.org/2000/svg"}
    assert "src=" not in page
    assert "<link" not in page and "@import" not in page
    assert page.count("<script") == 2  # the data and the script
    for id_ in ("prev", "next", "caption", "graph", "cost-panel", "boundary-panel", "params"):
        assert f'id="{id_}"' in page


def test_classes_and_one_input() -> None:
    ds = sg.load_data("iris")
    net = sg.Network.mlp([4, 3, 3], hidden="tanh", output="softmax", cost="cross_entropy")
    lesson = sg.lesson(net, ds.X, np.argmax(ds.Y, axis=1), steps=1, lr=0.05)
    assert lesson.grids is None  # 4 inputs: no boundary
    assert "boundary-panel" not in lesson.to_html()
    line = sg.Network.mlp([1, 1], hidden="identity", output="identity", cost="mse")
    sg.lesson(line, [1.0, 2.0, 3.0], [2.0, 4.0, 6.0], steps=3).to_html()


def test_large_data_is_sampled_and_said() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1000, 2))
    Y = (X[:, :1] * X[:, 1:] > 0).astype(float)
    lesson = sg.lesson(xor_net(), X, Y, steps=2, seed=3)
    assert len(lesson.X) == 300
    assert lesson.notes and "1,000 rows" in lesson.notes[0] and "seed 3" in lesson.notes[0]
    assert "1,000 rows" in lesson.to_html()
    again = sg.lesson(xor_net(), X, Y, steps=2, seed=3)
    np.testing.assert_array_equal(lesson.X, again.X)


@pytest.mark.parametrize(
    ("X", "Y", "kwargs", "message"),
    [
        (
            np.zeros((4, 3)),
            np.zeros((4, 1)),
            {},
            r"X has shape \(4, 3\); this network takes 2 inputs",
        ),
        (
            np.zeros((4, 2)),
            np.zeros((4, 2)),
            {},
            r"Y has shape \(4, 2\); this network gives 1 output",
        ),
        (np.zeros((4, 2)), np.zeros((3, 1)), {}, "X has 4 rows but Y has 3"),
        (
            np.zeros((4, 2)),
            np.zeros((4, 1)),
            {"steps": 0},
            "steps must be a whole number of at least 1",
        ),
        (np.zeros((4, 2)), np.zeros((4, 1)), {"steps": 1000}, "at most 100 steps"),
        (np.zeros((4, 2)), np.zeros((4, 1)), {"lr": -1}, "lr"),
        (np.zeros((4, 2)), np.zeros((4, 1)), {"params": {"W1": 1}}, "params lacks"),
    ],
)
def test_bad_input(X: Any, Y: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(sg.SpecError, match=message):
        sg.lesson(xor_net(), X, Y, **kwargs)


def test_write_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net, (X, Y) = xor_net(), xor_data()
    target = tmp_path / "api.html"
    sg.lesson(net, X, Y, steps=1).write(target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    out = tmp_path / "lesson.html"
    spec = str(ROOT / "examples" / "xor.toml")
    assert (
        main(["lesson", spec, "--data", "xor", "--steps", "3", "--lr", "0.5", "-o", str(out)]) == 0
    )
    assert "wrote" in capsys.readouterr().out
    data = embedded(out.read_text(encoding="utf-8"))
    assert len(data["steps"]) == 3 and data["lr"] == 0.5
    # bad input: one line, exit 2
    csv = tmp_path / "wide.csv"
    csv.write_text("a,b,c,d\n1,2,3,4\n", encoding="utf-8")
    assert main(["lesson", spec, "--data", str(csv), "--targets", "last:2", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("symgrad: error:")
    assert main(["lesson", spec, "--data", "xor", "--steps", "0", "-o", str(out)]) == 2
    assert main(["lesson", spec, "--data", "xor", "-o", str(tmp_path / "x.txt")]) == 2
    capsys.readouterr()
    big = tmp_path / "big.csv"
    rows = np.random.default_rng(0).integers(0, 2, size=(400, 3))
    big.write_text(
        "a,b,y\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n", encoding="utf-8"
    )
    assert main(["lesson", spec, "--data", str(big), "--steps", "1", "-o", str(out)]) == 0
    assert "400 rows" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# In a real headless Chromium, driven by selenium
# ------------------------------------------------------------------------------------------------
def browser() -> Any:
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install selenium)"
    )
    from selenium.webdriver.chrome.service import Service

    binary = next(
        (
            shutil.which(n)
            for n in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(n)
        ),
        None,
    )
    if binary is None:
        pytest.skip(
            "no chromium binary found: install Debian's chromium (apt-get install chromium)"
        )
    driver_path = (
        "/usr/bin/chromedriver"
        if Path("/usr/bin/chromedriver").exists()
        else shutil.which("chromedriver")
    )
    if driver_path is None:
        pytest.skip("no chromedriver found: install Debian's chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1500,1100",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(driver_path))


def shoot(page: Path, png: Path, presses: int) -> None:
    """A screenshot of ``page`` after ``presses`` presses of the right arrow key."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = browser()
    try:
        driver.get(page.as_uri())
        body = driver.find_element(By.TAG_NAME, "body")
        for _ in range(presses):
            body.send_keys(Keys.ARROW_RIGHT)
        driver.save_screenshot(str(png))
    finally:
        driver.quit()


@pytest.mark.slow
def test_next_through_one_step_in_chromium(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    net, (X, Y) = xor_net(), xor_data()
    lr = 0.5
    page = tmp_path / "lesson.html"
    sg.lesson(net, X, Y, steps=3, lr=lr).write(page)
    driver = browser()
    try:
        driver.get(page.as_uri())
        status = driver.find_element(By.ID, "status")
        assert status.get_attribute("data-phase") == "start"
        assert driver.find_element(By.ID, "prev").get_property("disabled")
        seen = []
        for _ in range(200):
            seen.append(status.get_attribute("data-phase"))
            if status.get_attribute("data-phase") == "done":
                break
            driver.find_element(By.ID, "next").click()
        assert status.get_attribute("data-step") == "1" and seen[-1] == "done"
        assert {"start", "forward", "backward", "update"} <= set(seen)
        want = replay(net, X, Y, 1, lr)[0]
        model = sg.compile(net, sg.SGD(lr))
        model.set_params(want["before"])
        compiled = model.gradients(X[:1], Y[:1])

        def shown(cell: str) -> float:
            el = driver.find_element(By.ID, cell)
            value = float(el.get_attribute("data-value"))
            assert float(el.text) == pytest.approx(value, rel=1e-3, abs=1e-6)  # the text, rounded
            return value

        for name in net.param_names:
            for index in np.ndindex(net.param_shape(name)):
                key = "-".join([name, *map(str, index)])
                assert shown(f"grad-{key}") == want["grads"][name][index]
                assert shown(f"new-{key}") == want["after"][name][index]
                assert shown(f"old-{key}") == want["before"][name][index]
        assert shown("grad-W1-1-0") == pytest.approx(compiled["W1"][1, 0], rel=1e-9, abs=1e-12)
        assert shown("grad-b2-0") == pytest.approx(compiled["b2"][0], rel=1e-9)
        # the cost panel shows the cost after the update
        cost_now = driver.find_element(By.ID, "cost-now")
        assert float(cost_now.get_attribute("data-value")) == want["data_cost"]
        # the updated weight is drawn on its node, and an edge lit during backward had its label
        assert (
            float(driver.find_element(By.ID, "v-n-w2_0_1").get_attribute("data-value"))
            == want["after"]["W2"][0, 1]
        )
        driver.save_screenshot(str(tmp_path / "lesson.png"))
        assert (tmp_path / "lesson.png").stat().st_size > 10_000
        # the keys: right goes on to the next training step, left comes back
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.ARROW_RIGHT)
        assert (status.get_attribute("data-step"), status.get_attribute("data-phase")) == (
            "2",
            "start",
        )
        assert driver.find_element(By.ID, "grad-W1-0-0").text == ""  # a new step starts afresh
        body.send_keys(Keys.ARROW_LEFT)
        assert status.get_attribute("data-phase") == "done"
        caption = driver.find_element(By.ID, "caption").text
        assert "Step 1 done" in caption
        logs = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert not logs, logs
    finally:
        driver.quit()


def write_readme_screenshot(target: Path = ROOT / "docs" / "lesson.png") -> None:
    """docs/lesson.png for the README: the XOR 2-3-1 net in the middle of its first backward
    pass (python -c 'from tests.test_lesson import write_readme_screenshot as w; w()')."""
    net, (X, Y) = xor_net(), xor_data()
    page = target.with_suffix(".html")
    try:
        sg.lesson(net, X, Y, steps=5, lr=0.5).write(page)
        shoot(page, target, presses=20)
    finally:
        page.unlink(missing_ok=True)
    print(f"wrote {target}")
