/* harness view: reliability diagrams and the per-example browser, drawn from the page's JSON.
   Every text from the data goes in with textContent, never as HTML: it is untrusted. */
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("harness-data").textContent);
  const BINS = 10;
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs, text) {
    const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  const binOf = (c) => Math.min(Math.floor(c * BINS), BINS - 1);
  const fmt = (c) => (c === null || c === undefined ? "none" : Number(c).toFixed(3));

  function details(run, id) {
    const ex = run.examples[id] || [];
    return { question: ex[0], gold: ex[1], subgroup: ex[2] };
  }
  /* [answer, judge reply, prompt] of an item; a pooled sweep's item names its own stage (it[5]) */
  function stageOf(run, row, it) { return (run.stages[it[5] || row.stage] || {})[it[0]] || []; }

  /* the baseline row of the same extractor (and, in a pooled sweep, the same grid point), as id -> item;
     a pooled sweep's ids carry their cell, so an id matches the baseline's answer in the same cell */
  function baselineOf(run, row) {
    if (row.title.startsWith("baseline")) return null;
    const point = (row.title.match(/ \([^)]*\)$/) || [""])[0];
    const base = run.rows.find((r) => r.title === `baseline${point}` && r.extractor === row.extractor)
      || run.rows.find((r) => r.title === `baseline${point}`);
    return base ? { row: base, byId: new Map(base.items.map((it) => [it[0], it])) } : null;
  }
  function baselineText(run, base, it) {
    if (!base) return "";
    const b = base.byId.get(it[0]);
    if (!b) return "baseline: not scored on this question";
    const s = stageOf(run, base.row, b);
    return `baseline: ${s[0] === undefined || s[0] === null ? "" : s[0]} (${fmt(b[1])}, ${b[2] === null ? "judge error" : b[2]})`;
  }

  function diagram(run, index, row, rowIndex, list) {
    const scored = row.items.filter((it) => it[3] !== null && it[3] !== undefined);
    const bins = Array.from({ length: BINS }, () => ({ n: 0, hit: 0 }));
    for (const it of scored) { const b = bins[binOf(it[3])]; b.n += 1; b.hit += it[2] === "correct" ? 1 : 0; }
    const W = 260, H = 260, C = 60, P = 46;
    const svg = el("svg:svg", { width: W + P + 10, height: H + C + 78, class: "diagram-svg" });
    const g = el("svg:g", { transform: `translate(${P},10)` });
    svg.appendChild(g);
    g.appendChild(el("svg:line", { x1: 0, y1: H, x2: W, y2: 0, stroke: "#888", "stroke-dasharray": "4 3" }));
    g.appendChild(el("svg:rect", { x: 0, y: 0, width: W, height: H, fill: "none", stroke: "#444" }));
    const most = Math.max(1, ...bins.map((b) => b.n));
    bins.forEach((b, k) => {
      const x = (k / BINS) * W, w = W / BINS - 2;
      const acc = b.n ? b.hit / b.n : 0;
      const tall = Math.max(acc * H, b.n ? 2 : 0);  // a filled bin of accuracy 0 still shows
      const bar = el("svg:rect", { x: x + 1, y: H - tall, width: w, height: tall,
                                   class: "bin", "data-bin": k, "data-row": rowIndex });
      bar.appendChild(el("svg:title", {}, `${k / BINS}-${(k + 1) / BINS}: ${b.n} answers, accuracy ${b.n ? acc.toFixed(3) : "n/a"}`));
      const hit = el("svg:rect", { x: x + 1, y: 0, width: w, height: H, fill: "transparent", class: "bin-hit",
                                   "data-bin": k, "data-row": rowIndex });
      const pick = () => { showBin(run, row, rowIndex, k, list, fig); bar.classList.add("selected"); };
      hit.addEventListener("click", pick);
      bar.addEventListener("click", pick);
      g.appendChild(bar);
      g.appendChild(hit);
      const tallCount = (b.n / most) * (C - 12);
      g.appendChild(el("svg:rect", { x: x + 1, y: H + 10 + C - tallCount, width: w, height: tallCount, class: "count" }));
      g.appendChild(el("svg:text", { x: x + 1 + w / 2, y: H + 8 + C - tallCount, "font-size": 9, "text-anchor": "middle",
                                     class: "bin-count", "data-bin": k }, b.n));
    });
    for (let t = 0; t <= 1.0001; t += 0.5) {
      g.appendChild(el("svg:text", { x: t * W, y: H + C + 25, "font-size": 10, "text-anchor": "middle" }, t.toFixed(1)));
      g.appendChild(el("svg:text", { x: -4, y: H - t * H + 3, "font-size": 10, "text-anchor": "end" }, t.toFixed(1)));
    }
    g.appendChild(el("svg:text", { x: W / 2, y: H + C + 42, "font-size": 11, "text-anchor": "middle", class: "axis-title" },
                     "confidence (bins of 0.1)"));
    g.appendChild(el("svg:text", { x: -H / 2, y: -30, "font-size": 11, "text-anchor": "middle", class: "axis-title",
                                   transform: "rotate(-90)" }, "accuracy in the bin"));
    g.appendChild(el("svg:text", { x: -(H + 10 + C / 2), y: -30, "font-size": 10, "text-anchor": "middle",
                                   class: "axis-title", transform: "rotate(-90)" }, "answers"));
    const fig = el("figure", { class: "diagram" });
    fig.appendChild(el("figcaption", {}, `${row.title} / ${row.extractor} (n=${scored.length})`));
    fig.appendChild(svg);
    return fig;
  }

  /* the list moves to just after the clicked diagram: beside it (or right under it when the line is
     full); the diagrams before it do not move */
  function showBin(run, row, rowIndex, k, list, fig) {
    fig.after(list);
    list.hidden = false;
    document.querySelectorAll(".diagram rect.bin.selected").forEach((n) => n.classList.remove("selected"));
    const items = row.items.filter((it) => it[3] !== null && it[3] !== undefined && binOf(it[3]) === k);
    const base = baselineOf(run, row);
    list.replaceChildren();
    list.dataset.bin = String(k);
    list.dataset.row = String(rowIndex);
    list.appendChild(el("h4", {}, `${row.title} / ${row.extractor}, confidence ${(k / BINS).toFixed(1)}-${((k + 1) / BINS).toFixed(1)}: ${items.length} answers`));
    const ul = el("ul", {});
    for (const it of items.slice(0, 500)) {
      const d = details(run, it[0]), s = stageOf(run, row, it);
      const li = el("li", { class: "bin-answer", "data-confidence": it[3], "data-grade": it[2] === null ? "none" : it[2] });
      li.appendChild(el("b", {}, `${fmt(it[3])} ${it[2] === null ? "judge error" : it[2]}: `));
      li.appendChild(el("span", { class: "answer" }, s[0] === undefined ? "" : s[0]));
      li.appendChild(el("span", { class: "question" }, ` — ${d.question === undefined ? it[0] : d.question}`));
      if (base) li.appendChild(el("div", { class: "baseline-answer" }, baselineText(run, base, it)));
      ul.appendChild(li);
    }
    list.appendChild(ul);
    if (items.length > 500) list.appendChild(el("p", {}, `(first 500 of ${items.length})`));
  }

  function browser(run, root) {
    const q = (cls) => root.querySelector(cls);
    const lines = [];
    run.rows.forEach((row, r) => {
      const base = baselineOf(run, row);
      for (const it of row.items) {
        const d = details(run, it[0]), s = stageOf(run, row, it);
        lines.push({ row: r, model: `${row.title} / ${row.extractor}`, id: it[0],
                     question: d.question === undefined ? (s[2] || it[0]) : d.question,
                     gold: d.gold === undefined ? "" : d.gold, subgroup: it[4] || d.subgroup || "",
                     answer: s[0] === undefined || s[0] === null ? "" : s[0], confidence: it[1],
                     grade: it[2] === null ? "none" : it[2], baseline: baselineText(run, base, it), reply: s[1] === undefined || s[1] === null ? "" : s[1] });
      }
    });
    const groups = [...new Set(lines.map((l) => l.subgroup).filter((g) => g))].sort();
    for (const g of groups) q(".f-subgroup").appendChild(el("option", { value: g }, g));
    let sortKey = null, sortDir = 1, shown = 100;
    function matching() {
      const row = q(".f-row").value, grade = q(".f-grade").value, sub = q(".f-subgroup").value;
      const lo = parseFloat(q(".f-min").value), hi = parseFloat(q(".f-max").value);
      const text = q(".f-text").value.toLowerCase();
      let out = lines.filter((l) => (row === "" || String(l.row) === row) && (grade === "" || l.grade === grade)
        && (sub === "" || l.subgroup === sub)
        && (l.confidence === null ? lo <= 0 : (isNaN(lo) || l.confidence >= lo) && (isNaN(hi) || l.confidence <= hi))
        && (text === "" || `${l.question}\n${l.answer}\n${l.gold}`.toLowerCase().includes(text)));
      if (sortKey) {
        out = out.slice().sort((a, b) => {
          const x = a[sortKey], y = b[sortKey];
          if (x === y) return 0;
          if (x === null) return 1;
          if (y === null) return -1;
          return (x < y ? -1 : 1) * sortDir;
        });
      }
      return out;
    }
    function draw() {
      const out = matching(), body = q("tbody");
      body.replaceChildren();
      for (const l of out.slice(0, shown)) {
        const tr = el("tr", { class: "example", "data-grade": l.grade, "data-confidence": l.confidence === null ? "" : l.confidence });
        for (const [key, value] of [["question", l.question], ["gold", l.gold], ["model", l.model], ["answer", l.answer],
                                    ["confidence", fmt(l.confidence)], ["grade", l.grade === "none" ? "judge error" : l.grade],
                                    ["baseline", l.baseline], ["reply", l.reply]]) {
          tr.appendChild(el("td", { class: key === "grade" ? l.grade : key }, value));
        }
        body.appendChild(tr);
      }
      q(".f-count").textContent = `${Math.min(shown, out.length)} of ${out.length} shown`;
      q(".more").hidden = out.length <= shown;
    }
    root.querySelectorAll("select, input").forEach((n) => n.addEventListener("input", () => { shown = 100; draw(); }));
    q(".more").addEventListener("click", () => { shown += 200; draw(); });
    root.querySelectorAll("th[data-sort]").forEach((th) => th.addEventListener("click", () => {
      const key = th.dataset.sort;
      sortDir = sortKey === key ? -sortDir : 1;
      sortKey = key;
      draw();
    }));
    draw();
  }

  DATA.runs.forEach((run, index) => {
    const holder = document.querySelector(`.diagrams[data-run="${index}"]`);
    const list = document.querySelector(`.bin-list[data-run="${index}"]`);
    run.rows.forEach((row, r) => { if (row.items.length) holder.insertBefore(diagram(run, index, row, r, list), list); });
    browser(run, document.querySelector(`.browser[data-run="${index}"]`));
  });
})();
