"""The standalone derivation page: what it holds, that it is standalone, and that it lays out."""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from chain_case import CHAIN_PARAMS, CHAIN_X, CHAIN_Y, chain_net

import symgrad as sg
from symgrad.views.html import to_html, write_html


@pytest.fixture(scope="module")
def chain_page() -> str:
    d = sg.derive(chain_net())
    return to_html(d, d.explain([CHAIN_X], [CHAIN_Y], CHAIN_PARAMS, param="W1"))


@pytest.fixture(scope="module")
def softmax_page() -> str:
    net = sg.Network.mlp([2, 3, 2], hidden="relu", output="softmax", cost="cross_entropy")
    return to_html(sg.derive(net), max_partials=3)


class Outline(HTMLParser):
    """The page's skeleton: structural tags, ids and classes, headings' text, maths counted."""

    KEEP = frozenset({"html", "head", "title", "style", "body", "h1", "h2", "h3", "nav", "section", "article",
            "figure", "figcaption", "svg", "p", "table", "tr", "footer"})  # fmt: skip
    VOID = frozenset(
        {"meta", "br", "hr", "img", "input", "link", "mspace", "line", "circle", "rect"}
    )

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.stack: list[str] = []
        self.open: list[tuple[int, str]] = []  # (line index, tag) of kept tags awaiting their text
        self.in_math = 0
        self.svg: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "math":
            self.in_math += 1
            if self.open:
                i, _ = self.open[-1]
                self.lines[i] += " [math]"
        if (self.stack and self.stack[-1] == "svg") or "svg" in self.stack:
            self.svg[tag] = self.svg.get(tag, 0) + 1
        if tag in self.VOID:
            return
        self.stack.append(tag)
        if tag in self.KEEP and not self.in_math and "svg" not in self.stack[:-1]:
            label = (
                tag
                + (f"#{a['id']}" if a.get("id") else "")
                + (f".{a['class']}" if a.get("class") else "")
            )
            depth = sum(
                t in {"section", "article", "table", "figure", "nav"} for t in self.stack[:-1]
            )
            self.lines.append("  " * depth + label)
            self.open.append((len(self.lines) - 1, tag))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        while self.stack and self.stack.pop() != tag:
            pass
        if tag == "math":
            self.in_math -= 1
        if self.open and self.open[-1][1] == tag and not self.in_math:
            self.open.pop()
        if tag == "svg":
            i = next(
                n for n in range(len(self.lines) - 1, -1, -1) if self.lines[n].strip() == "svg"
            )
            self.lines[i] += " " + ", ".join(f"{k}={v}" for k, v in sorted(self.svg.items()))
            self.svg = {}

    def handle_data(self, data: str) -> None:
        if self.in_math or not data.strip() or not self.open or "svg" in self.stack:
            return
        i, tag = self.open[-1]
        if tag in {"h1", "h2", "h3", "title", "p", "figcaption"}:
            self.lines[i] += " " + " ".join(data.split())


def outline(page: str) -> str:
    parser = Outline()
    parser.feed(page)
    return "\n".join(parser.lines) + "\n"


def test_page_structure_golden(chain_page: str, golden) -> None:
    golden("html_chain_outline.txt", outline(chain_page))


def test_page_holds_diagram_forward_steps_and_bp(chain_page: str, softmax_page: str) -> None:
    pages = (chain_page, softmax_page)
    for page in pages:
        sections = re.findall(r"<h2>(.*?)</h2>", page)
        assert sections[:3] == ["The network", "Forward pass", "Cost"]
        assert "The four equations of backpropagation (BP1-BP4)" in sections[-1]
        assert page.count("<svg") == 2 and "<circle" in page  # the network, its computation graph
        assert page.count('<figure class="graph">') == 1
        for label in ("BP1", "BP2", "BP3", "BP4"):
            assert label in page
    # the chain's diagram: x, three activations, three weight lines and one to the cost
    chain_diagram, softmax_diagram = (p.split('<figure class="graph">')[0] for p in pages)
    assert chain_diagram.count("<circle") == 4 and chain_diagram.count("<line") == 4
    assert chain_page.count('class="partial"') == 1 and 'class="numbers"' in chain_page
    assert softmax_page.count('class="partial"') == 3 and softmax_page.count('class="note"') == 1
    assert "more partial derivatives are left out" in softmax_page
    assert softmax_diagram.count("<line") == 2 * 3 + 3 * 2 + 2


def test_page_is_standalone(chain_page: str, softmax_page: str) -> None:
    for page in (chain_page, softmax_page):
        lower = page.lower()
        for banned in ("<script", "<link", "<iframe", "<img", "src=", "@import", "url("):
            assert banned not in lower, banned
        addresses = set(re.findall(r"https?://[^\s\"'<>]+", page))
        assert addresses <= {"http://www.w3.org/1998/Math/MathML", "http://www.w3.org/2000/svg"}
        # every piece of LaTeX became MathML: no TeX left in the text outside <style>
        text = re.sub(r"<style>.*?</style>|<[^>]+>", " ", page, flags=re.S)
        assert "\\" not in html.unescape(text)


def test_write_html_is_atomic(tmp_path: Path) -> None:
    net = sg.Network.mlp([1, 1], hidden="sigmoid", output="sigmoid")
    path = write_html(tmp_path / "page.html", sg.derive(net))
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_explanation_of_another_derivation_is_refused() -> None:
    net = sg.Network.mlp([1, 1], hidden="sigmoid", output="sigmoid")
    d1, d2 = sg.derive(net), sg.derive(net)
    ex = d1.explain([1.0], [0.0], {"W1": np.ones((1, 1)), "b1": np.zeros(1)})
    with pytest.raises(sg.SpecError, match="same derivation"):
        to_html(d2, ex)


# ------------------------------------------------------------------------------------------------
# In a real browser: Debian's chromium, headless
# ------------------------------------------------------------------------------------------------
MEASURE = """<script>
const boxes = Array.from(document.querySelectorAll("math")).map(m => {
  const r = m.getBoundingClientRect(); return [r.width, r.height]; });
// MathML laid out as maths puts a fraction's numerator above its denominator
const fracs = Array.from(document.querySelectorAll("mfrac")).map(f => {
  const [num, den] = f.children;
  return num.getBoundingClientRect().bottom <= den.getBoundingClientRect().top + 1; });
const out = document.createElement("pre");
out.id = "result";
out.textContent = JSON.stringify({boxes, fracs, text: document.body.innerText});
document.body.appendChild(out);
</script>
"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium binary found: install Debian's chromium (apt-get install chromium)")


def _run_chromium(args: list[str]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="symgrad-chromium-") as profile:
        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile}",
        ]  # fmt: skip
        return subprocess.run(
            [_chromium(), *flags, *args], capture_output=True, text=True, timeout=120
        )


def _png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw scanlines of an 8-bit RGB(A) PNG (no filtering undone: enough to count)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


@pytest.mark.slow
def test_page_lays_out_in_chromium(chain_page: str, softmax_page: str, tmp_path: Path) -> None:
    _chromium()
    for name, page in (("chain", chain_page), ("softmax", softmax_page)):
        probe = tmp_path / f"{name}-probe.html"
        probe.write_text(page.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
        run = _run_chromium(["--dump-dom", probe.as_uri()])
        found = re.search(r'<pre id="result">(.*?)</pre>', run.stdout, flags=re.S)
        assert found, run.stderr[-2000:]
        result = json.loads(html.unescape(found.group(1)))
        boxes = result["boxes"]
        assert len(boxes) == page.count("<math ") > 20
        empty = [i for i, (w, h) in enumerate(boxes) if not (w > 0 and h > 0)]
        assert not empty, f"{len(empty)} empty <math> boxes in the {name} page"
        assert result["fracs"] and all(result["fracs"]), "fractions did not lay out as MathML"
        assert "error" not in result["text"].lower()
        assert "\\" not in result["text"]
    shot = tmp_path / "chain.png"
    page = tmp_path / "chain.html"
    page.write_text(chain_page, encoding="utf-8")
    run = _run_chromium([f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()])
    assert shot.exists(), run.stderr[-2000:]
    width, height, raw = _png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 2000)
    # not blank: many distinct byte values and a fair share of non-white scanline bytes
    assert len(set(raw)) > 50
    assert sum(b < 200 for b in raw) > 0.01 * len(raw)
