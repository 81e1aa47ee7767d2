"""The style sheet and the script of a lesson page (:mod:`.lesson_page`), inlined into it.

The script reads the frames embedded as JSON (``#lesson-data``) and shows one at a time: it sets
the texts and ``data-value`` of the elements each frame names, lights up its ids (class ``lit``),
and colours the boundary panel's cells from the step's predictions. It computes no number.
"""

from __future__ import annotations

STYLE = """
body { font-family: system-ui, "DejaVu Sans", sans-serif; color: #1b1b1b; background: #fff;
       margin: 0 auto; padding: 1rem 2rem 3rem; line-height: 1.4; max-width: 90rem; }
h1 { font-size: 1.45rem; border-bottom: 2px solid #3465a4; padding-bottom: .3rem; }
p.note { background: #fcf3e3; border-left: 4px solid #e9b96e; padding: .3rem .7rem; }
.controls { display: flex; gap: .6rem; align-items: center; margin: .6rem 0; }
.controls button { font-size: 1rem; padding: .3rem .9rem; cursor: pointer; }
#status { color: #555; font-size: .9rem; }
#caption { min-height: 3rem; font-size: 1.05rem; background: #eef3fa; padding: .5rem .8rem;
           border-radius: 4px; white-space: pre-wrap; }
.layout { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
.layout .main { flex: 1 1 40rem; min-width: 0; }
.layout .side { flex: 0 0 310px; }
figure { margin: 0; }
figcaption { font-size: .85rem; color: #555; text-align: center; }
svg text { font-family: "DejaVu Sans", system-ui, sans-serif; }
g.edge > line { stroke: #a7aba4; stroke-width: 1; }
g.edge > polygon { fill: #a7aba4; }
g.edge.lit > line { stroke: #cc0000; stroke-width: 2.6; }
g.edge.lit > polygon { fill: #cc0000; }
text.elabel { fill: #204a87; font-size: 9px; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
text.elabel.lit { fill: #cc0000; font-size: 11px; font-weight: bold; }
g.node > circle, g.node > rect { fill: #eef3fa; stroke: #3465a4; stroke-width: 1.2; }
g.node.param > rect { fill: #fdf6e3; }
g.node.io > circle { fill: #f3f3f1; }
g.node.cost > rect { fill: #fcf3e3; stroke: #c17d11; }
g.node.lit > circle, g.node.lit > rect { stroke: #cc0000; stroke-width: 3; fill: #fbe3e3; }
text.val { fill: #a40000; font-size: 9.5px; }
text.grad { fill: #204a87; font-size: 9.5px; }
circle.pt { stroke: #333; stroke-width: 1; }
circle.pt.lit { stroke: #000; stroke-width: 3; }
table.params { border-collapse: collapse; font-size: .85rem; }
table.params td, table.params th { padding: .1rem .5rem; text-align: right; border-bottom: 1px solid #eee; }
table.params th { color: #204a87; }
""".strip()

SCRIPT = r"""
(() => {
  const D = JSON.parse(document.getElementById("lesson-data").textContent);
  const F = D.frames;
  const $ = (id) => document.getElementById(id);
  const shows = Array.from(document.querySelectorAll("[data-shows]"));
  let i = 0;
  function mix(a, b, t) {
    const c = (h, k) => parseInt(h.slice(k, k + 2), 16);
    const m = (k) => Math.round(c(a, k) + (c(b, k) - c(a, k)) * t);
    return `rgb(${m(1)},${m(3)},${m(5)})`;
  }
  function color(v) {
    if (D.palette.kind === "class") {
      const cs = D.palette.colors;
      return mix(cs[v % cs.length], "#ffffff", 0.5);  // pale: the points stand out
    }
    const t = Math.min(1, Math.max(0, (v - D.palette.lo) / (D.palette.hi - D.palette.lo)));
    return t < 0.5 ? mix(D.palette.colors[0], "#ffffff", t * 2)
                   : mix("#ffffff", D.palette.colors[1], t * 2 - 1);
  }
  function render() {
    const f = F[i];
    for (const el of shows) { el.textContent = ""; delete el.dataset.value; }
    let s = i;
    while (s > 0 && F[s - 1].step === f.step) s--;
    for (let k = s; k <= i; k++) {
      for (const [id, [text, value]] of Object.entries(F[k].show)) {
        const el = $(id);
        if (!el) continue;
        el.textContent = text;
        if (value !== null) el.dataset.value = String(value);
      }
    }
    document.querySelectorAll(".lit").forEach((el) => el.classList.remove("lit"));
    for (const id of f.lit) { const el = $(id); if (el) el.classList.add("lit"); }
    const pt = $("pt-" + D.steps[f.step].row);
    if (pt && f.phase !== "done") pt.classList.add("lit");
    $("caption").textContent = f.text;
    const st = $("status");
    st.textContent = `training step ${f.step + 1} of ${D.steps.length} \u00b7 ${f.phase} \u00b7 ` +
      `view ${i + 1} of ${F.length}`;
    st.dataset.step = String(f.step + 1);
    st.dataset.phase = f.phase;
    st.dataset.frame = String(i);
    for (let k = 0; k < D.costs.length; k++) {
      const on = k <= f.panel ? "visible" : "hidden";
      $("cost-" + k).style.visibility = on;
      if (k > 0) $("cost-seg-" + k).style.visibility = on;
      $("cost-" + k).classList.toggle("lit", k === f.panel);
    }
    const now = $("cost-now");
    now.textContent = `cost after ${f.panel} update${f.panel === 1 ? "" : "s"}: ` +
      D.costs[f.panel].toPrecision(4);
    now.dataset.value = String(D.costs[f.panel]);
    if (D.grids) {
      const g = D.grids[f.panel];
      for (let c = 0; c < g.length; c++) $("cell-" + c).setAttribute("fill", color(g[c]));
      $("boundary-title").textContent = `predictions after ${f.panel} update${f.panel === 1 ? "" : "s"}`;
    }
    $("prev").disabled = i === 0;
    $("next").disabled = i === F.length - 1;
    $("next-step").disabled = i === F.length - 1;
  }
  function go(k) { i = Math.max(0, Math.min(F.length - 1, k)); render(); }
  function nextStep() {
    let k = i + 1;
    while (k < F.length && F[k].phase !== "start") k++;
    go(k < F.length ? k : F.length - 1);
  }
  $("next").addEventListener("click", () => go(i + 1));
  $("prev").addEventListener("click", () => go(i - 1));
  $("next-step").addEventListener("click", nextStep);
  document.addEventListener("keydown", (e) => {
    if (e.key === "ArrowRight") { go(i + 1); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { go(i - 1); e.preventDefault(); }
    else if (e.key === "PageDown") { nextStep(); e.preventDefault(); }
  });
  render();
})();
""".strip()


__all__ = ["SCRIPT", "STYLE"]
