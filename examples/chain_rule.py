"""3Blue1Brown's chain: every partial derivative of the 1-1-1-1 network, as text and as LaTeX.

x -> a(1) -> a(2) -> a(3), one sigmoid neuron per layer, cost C = (a(3) - y)^2. Each partial
is a product of local derivatives, one per link of the chain. Writes chain.tex (a standalone
LaTeX document) into the current folder.

Run: python examples/chain_rule.py
"""

from pathlib import Path

import symgrad as sg

spec = sg.load_spec(Path(__file__).with_name("chain.toml"))
d = sg.derive(spec.network)

# Every partial derivative (three weights, three biases), step by step, as plain text.
print(d.to_text(equations=False))

# The deepest one: w(1) reaches C through all three layers.
p = d.partial("W1", 0, 0)
print("dC/dw(1) as a product of local derivatives:", p.expr)
print("in the input, target and parameters only:  ", p.expanded())

# The steps multiply out to sympy.diff of the expanded cost (a symbolic proof for this net).
report = d.check()
print(report.table())
assert report.ok

# The same derivation as a LaTeX document (pdflatex chain.tex makes a PDF).
Path("chain.tex").write_text(d.to_latex(document=True), encoding="utf-8")
print(d.to_latex(param="W1", equations=False).splitlines()[0], "...")
print("wrote chain.tex")
