"""An exercise sheet and its grader: one partial derivative of a 2-3-2 network worked at an
example of small numbers, with four blanks for the student, then a student's answers graded.

The grader knows the slips students make: z written for a, a sign, the factor 2 of the quadratic
cost, a path of the sum left out. It names the one an answer matches.

Run: python examples/exercise.py   (writes sheet.html; symgrad grade sheet.html answers.toml)
"""

import symgrad as sg

net = sg.Network.mlp([2, 3, 2], hidden="sigmoid", output="sigmoid", cost="quadratic")
ex = sg.exercise(net, seed=1, blanks=4, param="W1", index=(0, 1))
print(ex.to_text())
with open("sheet.html", "w", encoding="utf-8") as f:  # hints and answers folded in <details>
    f.write(ex.to_html())
print("wrote sheet.html")

# A student who gets every value right but one, where the factor 2 of the cost is forgotten.
answers = dict(ex.answers)
cost = next(b for b in ex.blanks if any("factor 2" in what for what, _ in b.slips))
answers[cost.id] = cost.value / 2
report = ex.grade(answers)
print(report)
assert not report.all_correct and "factor 2 of the quadratic cost" in report.to_text()
