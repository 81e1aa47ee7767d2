"""Exercise sheets: a seeded worked example with blanks, its renderings, and the grader that names
the slip an answer matches."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg
from symgrad.cli import main
from symgrad.verify import numeric
from symgrad.views.sheet import read_sheet

QUADRATIC = sg.Network.mlp([2, 3, 2], hidden="sigmoid", output="sigmoid", cost="quadratic")
XOR = Path(__file__).resolve().parent.parent / "examples" / "xor.toml"


def test_the_same_seed_gives_the_same_sheet_and_others_other_numbers() -> None:
    a, b = sg.exercise(QUADRATIC, seed=3), sg.exercise(QUADRATIC, seed=3)
    assert a.to_markdown() == b.to_markdown() and a.answers == b.answers
    others = {tuple(sg.exercise(QUADRATIC, seed=s).explanation.x) for s in range(6)}
    assert len(others) > 3
    x = a.explanation.x
    assert np.all(np.round(x, 1) == x) and np.all(x != 0)  # one decimal, by hand


@pytest.mark.parametrize("seed", range(4))
def test_the_answers_are_the_gradient_at_the_example(seed: int) -> None:
    ex = sg.exercise(QUADRATIC, seed=seed, blanks=3)
    e = ex.explanation
    p = ex.partial.partial
    grads = numeric.gradients(QUADRATIC, e.params, e.x[None, :], e.y[None, :])
    final = ex.blanks[-1]
    assert final.value == pytest.approx(grads[p.name][p.index], rel=1e-12)
    assert len(ex.blanks) <= 3 and ex.blanks[-1].step == 0
    for b in ex.blanks[:-1]:  # each other blank is the value of its step
        assert b.value == ex.partial.steps[b.step].value
    assert ex.grade(ex.answers).all_correct


def test_the_grader_names_the_slip_an_answer_matches() -> None:
    # W1: a hidden weight, whose dC/da^(1) is a sum over the two output units' paths
    ex = sg.exercise(QUADRATIC, seed=1, blanks=10, param="W1", index=(0, 1))
    kinds = {ex.partial.steps[b.step].step.kind: b for b in ex.blanks[:-1]}
    assert set(kinds) == {"local", "paths", "cost"}
    cost, paths = kinds["cost"], kinds["paths"]
    slips = dict((what, v) for what, v in cost.slips)
    report = ex.grade({cost.id: slips["the factor 2 of the quadratic cost was left out"]})
    verdict = next(v for v in report.verdicts if v.id == cost.id)
    assert not verdict.correct and "factor 2 of the quadratic cost" in verdict.hint
    left_out = next(v for what, v in paths.slips if what.startswith("path 2"))
    verdict = ex.grade({paths.id: left_out}).verdicts[[b.id for b in ex.blanks].index(paths.id)]
    assert "path 2 of the sum was left out" in verdict.hint
    local = next(b for b in ex.blanks if any("z was used" in w for w, _ in b.slips))
    z_value = next(v for w, v in local.slips if "z was used" in w)
    assert (
        "z was used where the formula has a"
        in ex.grade({local.id: z_value}).verdicts[[b.id for b in ex.blanks].index(local.id)].hint
    )
    final = ex.blanks[-1]
    assert "sign" in ex.grade({final.id: -final.value}).verdicts[-1].hint
    # a wrong answer that matches no slip: the step to look at
    assert ex.grade({cost.id: 1234.5}).verdicts[0].hint.startswith("look at the rule")
    # right within 1%, as an answer rounded to 3 significant digits is
    assert ex.grade({b.id: float(f"{b.value:.3g}") for b in ex.blanks}).all_correct


def test_bad_answers_are_one_clear_error() -> None:
    ex = sg.exercise(QUADRATIC, seed=0)
    with pytest.raises(sg.SpecError, match="no blank 'b9' on this sheet; its blanks are b1"):
        ex.grade({"b9": 1.0})
    with pytest.raises(sg.SpecError, match="the answer to b1 must be a number"):
        ex.grade({"b1": "half"})
    with pytest.raises(sg.SpecError, match="no parameter 'W7'; the parameters are W1, b1"):
        sg.exercise(QUADRATIC, param="W7")
    with pytest.raises(sg.SpecError, match="blanks must be a whole number >= 1"):
        sg.exercise(QUADRATIC, blanks=0)


def test_every_format_carries_its_exercise_and_hides_the_answers(tmp_path: Path) -> None:
    ex = sg.exercise(QUADRATIC, seed=5)
    page = ex.to_html()
    assert "<details><summary>hint 1</summary>" in page and "<script type=" in page
    assert "http" not in page.replace("http://www.w3.org", "")  # self-contained
    latex = ex.to_latex()
    assert latex.index("\\newpage") < latex.index("Answer key")  # the key on its own page
    for text, suffix in ((page, ".html"), (latex, ".tex"), (ex.to_markdown(), ".md")):
        sheet = tmp_path / f"sheet{suffix}"
        sheet.write_text(text, encoding="utf-8")
        assert read_sheet(sheet).answers == ex.answers
    if shutil.which("pdflatex"):
        (tmp_path / "sheet.tex").write_text(latex, encoding="utf-8")
        done = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "sheet.tex"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:]


def test_the_cli_writes_a_sheet_and_grades_answers(tmp_path: Path, capsys) -> None:
    sheet = tmp_path / "sheet.html"
    assert main(["exercise", str(XOR), "--seed", "3", "--blanks", "3", "-o", str(sheet)]) == 0
    assert "3 blanks" in capsys.readouterr().out
    ex = read_sheet(sheet)
    right = tmp_path / "right.toml"
    right.write_text("\n".join(f"{k} = {v!r}" for k, v in ex.answers.items()), encoding="utf-8")
    assert main(["grade", str(sheet), str(right)]) == 0
    assert capsys.readouterr().out.startswith("3 of 3 right")
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("b1 = 12345.0\n", encoding="utf-8")
    assert main(["grade", str(sheet), str(wrong)]) == 1
    assert "b1: 12345: wrong; look at" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answers", "says"),
    [
        ("b7 = 1.0", "no blank 'b7' on this sheet"),
        ('b1 = "half"', "b1 must be a number"),
        ("b1 = ", "not a TOML file of answers"),
    ],
)
def test_grade_refuses_bad_answers_in_one_line(tmp_path: Path, capsys, answers, says) -> None:
    sheet = tmp_path / "sheet.md"
    assert main(["exercise", str(XOR), "-o", str(sheet)]) == 0
    capsys.readouterr()
    file = tmp_path / "answers.toml"
    file.write_text(answers + "\n", encoding="utf-8")
    assert main(["grade", str(sheet), str(file)]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_grade_refuses_a_file_that_is_no_sheet(tmp_path: Path, capsys) -> None:
    other = tmp_path / "notes.md"
    other.write_text("# notes\n", encoding="utf-8")
    answers = tmp_path / "a.toml"
    answers.write_text("b1 = 1\n", encoding="utf-8")
    assert main(["grade", str(other), str(answers)]) == 2
    assert "no exercise record found" in capsys.readouterr().err
    assert main(["exercise", str(XOR), "--param", "W9", "-o", str(tmp_path / "s.md")]) == 2
    assert "no parameter 'W9'" in capsys.readouterr().err
    assert not (tmp_path / "s.md").exists()
