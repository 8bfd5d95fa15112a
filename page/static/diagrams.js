// The lesson's diagrams, drawn in the browser and moved by the word stepper:
//   the unrolled network  one box per word in every layer/direction row (page/diagrams.py's `diagram`)
//   the cell              the marked box opened up: LSTM / GRU gates or the RNN's one tanh (payload.cells)
//   packing               the packing tab's padded batch and torch's packed form (page/packing_diagram.py)
//
// Imported by page/static/reader_page.js, which announces every stepper move (and every new Read) as a
// "rnn-reader-step" event on `document` with {payload, step}. A new payload builds the DOM and SVG
// once; a step only moves classes and rewrites a few numbers, so it stays far below a frame. Nothing
// here redraws a plot: the picked gate's heatmap is marked by a frame laid over it. The texts come
// once per language from /reader/strings-LANG.json. window.rnnDiagrams.drawPacking draws the packing
// tab; window.rnnDiagramsState exposes the state and each redraw's time (stepTimes, packTimes).
import * as R from "./reader.js";

const base = new URL(".", import.meta.url); // /reader/, wherever the page is served or embedded
const state = {
  payload: null, step: 0, built: null, gate: null, boxes: [], arrows: [], words: [], average: null, geo: null, shown: null,
  stepTimes: [], buildTimes: [], strings: new Map(), loading: new Map(), packing: null, packTimes: [],
};
window.rnnDiagramsState = state;

const $ = (id) => document.getElementById(id);
const SUB = "₀₁₂₃₄₅₆₇₈₉";
const sub = (n) => String(n).replace(/[0-9]/g, (c) => SUB[Number(c)]);
const SVG_NS = "http://www.w3.org/2000/svg";
const STRIP_COLUMNS = 16; // a state's units as rows of 16 squares
let T = {}; // the texts of the language being drawn

function S(key, params = {}) {
  let text = T[key] ?? key;
  for (const [name, value] of Object.entries(params)) text = text.split(`{${name}}`).join(String(value));
  return text;
}

function el(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text) node.textContent = text;
  return node;
}

const fixed = (v) => (v < 0 ? "−" : "") + Math.abs(v).toFixed(2);

/** The texts of `lang` (fetched once, then kept). */
function strings(lang) {
  if (state.strings.has(lang)) return Promise.resolve(state.strings.get(lang));
  if (!state.loading.has(lang)) {
    const promise = fetch(new URL(`strings-${encodeURIComponent(lang)}.json`, base)).then((r) => {
      if (!r.ok) throw new Error(`diagram texts for ${lang}: HTTP ${r.status}`);
      return r.json();
    }).then((table) => { state.strings.set(lang, table); return table; });
    promise.catch(() => state.loading.delete(lang));
    state.loading.set(lang, promise);
  }
  return state.loading.get(lang);
}

function listen() {
  document.addEventListener("rnn-reader-step", (event) => onStep(event.detail || {}));
  document.addEventListener("click", (event) => {
    const box = event.target.closest?.("#net-grid .net-box");
    if (box) { window.rnnReader?.call("setStep", Number(box.dataset.i)); return; }
    const gate = event.target.closest?.("#cell-svg [data-gate]");
    if (gate) { pickGate(gate.dataset.gate); return; }
    if (event.target.closest?.("#cells-section")) setTimeout(markHeatmaps, 250); // the heatmaps open drawn afresh
  });
  let frame = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => { markHeatmaps(); if (state.built) measureNetwork(); });
  });
  document.addEventListener("keydown", (event) => {
    const gate = event.target.closest?.("#cell-svg [data-gate]");
    if (gate && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); pickGate(gate.dataset.gate); }
  });
}

// ---------------------------------------------------------------- following the stepper

function onStep({ payload, step }) {
  const t0 = performance.now();
  if (!payload || !payload.diagram) {
    state.payload = null;
    state.built = null;
    return; // reader_page.js hides every .reader-view while there is nothing to show
  }
  state.step = step;
  if (payload !== state.payload) {
    state.payload = payload;
    state.built = null;
    // built after the frame that shows the Read's own views: the diagrams sit below them and must not
    // hold back the answer, the stepper and the plots (bench/bench_page.py times those)
    strings(payload.diagram.lang).then((table) => new Promise((done) => requestAnimationFrame(() => setTimeout(() => done(table), 0))))
      .then((table) => {
        if (state.payload !== payload) return; // a newer Read came while the texts were loading
        const b0 = performance.now();
        T = table;
        build();
        moveTo(state.step);
        state.buildTimes.push(performance.now() - b0);
      }).catch((err) => { $("net-help").textContent = String(err); });
    return;
  }
  if (state.built !== payload) return; // still waiting for the texts: built with the latest step
  moveTo(step);
  state.stepTimes.push(performance.now() - t0);
}

function build() {
  const p = state.payload;
  const d = p.diagram;
  $("net-title").textContent = S("net_title");
  $("net-scroll").setAttribute("aria-label", S("net_title")); // the scrolling region, named for screen readers
  $("net-help").textContent = d.kind === "bag" ? S("net_help_bag") : S("net_help");
  $("net-readout").textContent = d.readout;
  buildNetwork(p, d);
  buildCell(p);
  state.built = p;
  state.shown = null;
  measureNetwork();
  requestAnimationFrame(markHeatmaps); // reader_page.js may have redrawn the heatmaps for this Read
}

function moveTo(step) {
  const p = state.payload;
  moveNetwork(p, step);
  moveCell(p, step);
  const root = $("reader-network");
  root.dataset.step = String(step);
}

// ---------------------------------------------------------------- the unrolled network

const rowName = (layer, direction, layers) => {
  const dir = direction === 0 ? S("forward") : S("backward");
  return layers > 1 ? `${S("layer", { n: layer + 1 })} · ${dir}` : dir;
};

/** A state as a strip of squares (one per unit, rows of 16), coloured as the cell view's column: one
 * canvas pixel per unit, scaled up by CSS, so a box is one element however many units it shows. */
function strip(values, range) {
  const canvas = document.createElement("canvas");
  canvas.className = "net-strip";
  canvas.width = Math.min(STRIP_COLUMNS, values.length) || 1;
  canvas.height = Math.ceil(values.length / canvas.width) || 1;
  paintStrip(canvas, values, range);
  return canvas;
}

function paintStrip(canvas, values, range) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  values.forEach((v, u) => {
    ctx.fillStyle = R.valueColour(v, range);
    ctx.fillRect(u % canvas.width, Math.floor(u / canvas.width), 1, 1);
  });
}

function rowValues(p, row) {
  if (row.hundredths) return row.hundredths.map((word) => word.map((v) => v / 100));
  return p.cells.panels.find((q) => q.key === "hidden").values; // the picker's row: sent once, in cells
}

function buildNetwork(p, d) {
  const grid = $("net-grid");
  const words = p.tokens;
  const n = words.length;
  grid.style.gridTemplateColumns = `max-content var(--net-arrow) repeat(${n}, var(--net-box) var(--net-arrow))`;
  const cells = [];
  state.boxes = [];
  state.arrows = [];
  const place = (node, row, col, span = 1) => {
    node.style.gridRow = String(row);
    node.style.gridColumn = span > 1 ? `${col} / span ${span}` : String(col);
    cells.push(node);
    return node;
  };
  const boxCol = (k) => 3 + 2 * k; // label, S0 arrow, then box / arrow pairs
  let r = 1;
  const connector = () => {
    for (let k = 0; k < n; k++) place(el("span", "net-up", "↑"), r, boxCol(k));
    r += 1;
  };
  if (d.kind === "bag") {
    const avg = place(el("div", "net-average"), r, 3, 2 * n - 1);
    const inner = el("div", "net-average-in"); // stays in view while the row scrolls
    const label = el("span", "net-average-label");
    const embeddings = rowValues(p, d.rows[0]);
    state.average = { node: avg, label, strip: strip(embeddings[0], d.range), means: runningMeans(embeddings) };
    inner.append(label, state.average.strip);
    avg.append(inner);
    place(el("span", "net-label", "∑ / n"), r, 1);
    r += 1;
    connector();
    addRow(embeddings, { label: S("embedding"), arrows: false, direction: 0, zoom: false, cell: false });
  } else {
    state.average = null;
    const order = [...d.rows].sort((a, b) => b.layer - a.layer || a.direction - b.direction); // top layer first
    order.forEach((row, k) => {
      if (k > 0 && row.layer !== order[k - 1].layer) connector();
      addRow(rowValues(p, row), { label: rowName(row.layer, row.direction, d.layers), arrows: true,
                                  direction: row.direction, zoom: row.cells, cell: true });
    });
    connector();
  }
  place(el("span", "net-label", S("words")), r, 1);
  state.words = words.map((w, k) => {
    const x = place(el("span", p.known[k] ? "net-word" : "net-word unknown"), r, boxCol(k));
    x.append(el("b", "", w), el("small", "", `X${sub(k + 1)}`));
    return x;
  });
  grid.replaceChildren(...cells);

  function addRow(values, { label, arrows, direction, zoom, cell }) {
    place(el("span", "net-label", label), r, 1);
    const boxes = [];
    const links = [];
    for (let k = 0; k < n; k++) {
      const box = place(el("button", zoom ? "net-box zoomable" : "net-box"), r, boxCol(k));
      box.type = "button";
      box.dataset.i = String(k);
      box.title = S("box", { word: words[k], i: k + 1 });
      const head = el("span", "net-head");
      // a cell: the same weights W, and the state it passes on; the bag: the word's embedding e
      head.append(el("span", "net-w", cell ? "W" : ""), el("span", "net-s", cell ? `S${sub(k + 1)}` : `e${sub(k + 1)}`));
      box.append(head, strip(values[k], d.range));
      boxes.push(box);
    }
    if (arrows) {
      // forward: S0 enters the first box and S_k goes from box k to box k+1; backward: right to left
      for (let k = 0; k <= n; k++) {
        const forward = direction === 0;
        const arrow = place(el("span", "net-arrow"), r, 2 + 2 * k);
        const label = forward ? k : (k === n ? 0 : k + 1);
        arrow.append(el("span", "", forward ? "→" : "←"), el("small", "", `S${sub(label)}`));
        arrow.dataset.into = String(forward ? k : k - 1); // the box (0-based) this arrow feeds
        links.push(arrow);
      }
    }
    state.boxes.push({ boxes, direction, zoom });
    state.arrows.push(links);
    r += 1;
  }
}

function runningMeans(values) {
  const sums = values[0].map(() => 0);
  return values.map((row, k) => row.map((v, u) => { sums[u] += v; return sums[u] / (k + 1); }));
}

/** The network's geometry, read once per Read (and on resize), so that a step reads no layout. */
function measureNetwork() {
  const scroller = $("net-scroll");
  const first = state.boxes[0]?.boxes || [];
  if (!scroller) return;
  if (!scroller.dataset.bound) {
    scroller.dataset.bound = "1";
    scroller.addEventListener("scroll", () => { if (state.geo) state.geo.scroll = scroller.scrollLeft; }, { passive: true });
  }
  state.geo = { label: scroller.querySelector(".net-label")?.offsetWidth || 0, width: scroller.clientWidth,
                lefts: first.map((b) => b.offsetLeft), box: first[0]?.offsetWidth || 0, scroll: scroller.scrollLeft };
}

function moveNetwork(p, step) {
  const before = state.shown;
  state.boxes.forEach(({ boxes, direction, zoom }, r) => {
    boxes.forEach((box, k) => {
      box.classList.toggle("current", k === step);
      box.classList.toggle("read", direction === 0 ? k < step : k > step);
      box.classList.toggle("zoom", zoom && k === step);
    });
    boxes[before]?.removeAttribute("aria-current");
    boxes[step]?.setAttribute("aria-current", "step");
    state.arrows[r].forEach((a) => a.classList.toggle("current", Number(a.dataset.into) === step));
  });
  state.words.forEach((x, k) => x.classList.toggle("current", k === step));
  state.shown = step;
  if (state.average) {
    const avg = state.average;
    avg.label.textContent = S("average", { n: step + 1 });
    paintStrip(avg.strip, avg.means[step], p.diagram.range);
    state.boxes[0].boxes.forEach((box, k) => box.classList.toggle("in-average", k <= step));
  }
  // keep the current box in view inside the diagram's own scroll (never the page's), from the cached geometry
  if (!state.geo || !state.geo.width) measureNetwork(); // built while its tab was hidden
  const g = state.geo;
  if (g && g.width && g.lefts.length) {
    const x = g.lefts[step];
    if (x - g.label - 8 < g.scroll || x + g.box + 8 > g.scroll + g.width) {
      g.scroll = Math.max(0, x - g.label - (g.width - g.label - g.box) / 2);
      $("net-scroll").scrollLeft = g.scroll;
    }
  }
}

// ---------------------------------------------------------------- the cell, with its gates

// The lesson's notation (Olah's, which the lesson recommends); the GRU as PyTorch computes it.
const EQUATIONS = {
  lstm: {
    forget_gate: ["eq_lstm_forget", "f<sub>t</sub> = σ(W<sub>f</sub>·[h<sub>t−1</sub>, x<sub>t</sub>] + b<sub>f</sub>)"],
    input_gate: ["eq_lstm_input", "i<sub>t</sub> = σ(W<sub>i</sub>·[h<sub>t−1</sub>, x<sub>t</sub>] + b<sub>i</sub>)"],
    cell_candidate: ["eq_lstm_candidate", "c̃<sub>t</sub> = tanh(W<sub>c</sub>·[h<sub>t−1</sub>, x<sub>t</sub>] + b<sub>c</sub>)"],
    cell: ["eq_lstm_cell", "c<sub>t</sub> = f<sub>t</sub> ⊙ c<sub>t−1</sub> + i<sub>t</sub> ⊙ c̃<sub>t</sub>"],
    output_gate: ["eq_lstm_output", "o<sub>t</sub> = σ(W<sub>o</sub>·[h<sub>t−1</sub>, x<sub>t</sub>] + b<sub>o</sub>)"],
    hidden: ["eq_lstm_hidden", "h<sub>t</sub> = o<sub>t</sub> ⊙ tanh(c<sub>t</sub>)"],
  },
  gru: {
    reset_gate: ["eq_gru_reset", "r<sub>t</sub> = σ(W<sub>r</sub>·[h<sub>t−1</sub>, x<sub>t</sub>] + b<sub>r</sub>)"],
    update_gate: ["eq_gru_update", "z<sub>t</sub> = σ(W<sub>z</sub>·[h<sub>t−1</sub>, x<sub>t</sub>] + b<sub>z</sub>)"],
    candidate: ["eq_gru_candidate", "h̃<sub>t</sub> = tanh(W<sub>h</sub>·x<sub>t</sub> + r<sub>t</sub> ⊙ (U<sub>h</sub>·h<sub>t−1</sub>) + b<sub>h</sub>)"],
    hidden: ["eq_gru_hidden", "h<sub>t</sub> = (1 − z<sub>t</sub>) ⊙ h̃<sub>t</sub> + z<sub>t</sub> ⊙ h<sub>t−1</sub>"],
  },
  rnn: {
    hidden: ["eq_rnn_hidden", "S<sub>i</sub> = tanh(W·X<sub>i</sub> + H·S<sub>i−1</sub> + b)"],
  },
};

// Where each part sits in a 380 × 262 drawing: gates [key, symbol, activation, x, y], the states
// leaving on the right [key, symbol, y], wires (SVG paths), operations, boxes and port labels.
const LAYOUT = {
  lstm: {
    gates: [["forget_gate", "f", "σ", 72, 150], ["input_gate", "i", "σ", 132, 150],
            ["cell_candidate", "c̃", "tanh", 192, 150], ["output_gate", "o", "σ", 252, 150]],
    ends: [["cell", "c", 22], ["hidden", "h", 202]],
    wires: ["M40 34 H322", "M72 124 V43", "M132 124 L156 99", "M192 124 L168 99", "M162 83 V43",
            "M300 34 V74", "M300 94 V141", "M280 150 H291", "M300 159 V214 H322", "M40 214 H252",
            "M72 214 V176", "M132 214 V176", "M192 214 V176", "M252 214 V176", "M56 250 V214"],
    ops: [["×", 72, 34], ["+", 162, 34], ["×", 162, 92], ["×", 300, 150]],
    boxes: [["tanh", 300, 84]],
    labels: [["c", "t−1", 2, 38], ["h", "t−1", 2, 218], ["x", "t", 62, 254]],
  },
  gru: {
    gates: [["reset_gate", "r", "σ", 84, 150], ["update_gate", "z", "σ", 160, 150], ["candidate", "h̃", "tanh", 250, 150]],
    ends: [["hidden", "h", 22]],
    wires: ["M40 34 H322", "M44 34 V214 H250", "M84 214 V176", "M160 214 V176", "M250 214 V176", "M160 124 V43",
            "M180 124 L200 101", "M215 92 H241", "M250 124 V101", "M250 83 V43", "M111 162 H120 V196 H236 V176",
            "M66 250 V214"],
    ops: [["×", 160, 34], ["+", 250, 34], ["×", 250, 92], ["1−", 206, 92]],
    boxes: [],
    labels: [["h", "t−1", 2, 38], ["x", "t", 72, 254], ["r ⊙", "", 168, 192]],
  },
  rnn: {
    gates: [["hidden", "tanh", "", 180, 120]],
    ends: [],
    wires: ["M44 120 H122", "M238 120 H322", "M180 240 V146"],
    ops: [],
    boxes: [],
    labels: [["S", "i−1", 2, 124], ["X", "i", 188, 254], ["H·S", "i−1", 56, 110], ["W·X", "i", 186, 204], ["S", "i", 328, 124]],
  },
};
const GATE_W = 56;
const UNIT_CHAR = 7; // about the width of one character of a gate's unit line (13 px digits, the phone's size), generously
const GATE_H = 52;

/** A symbol with a subscript (SVG tspans shifted by dy: baseline-shift is drawn unevenly). */
function subText(attrs, name, low, lowSize = 10) {
  const t = svg("text", attrs, name);
  if (low) {
    t.append(svg("tspan", { dy: 4, "font-size": lowSize }, low));
  }
  return t;
}

function buildCell(p) {
  const box = $("cell-box");
  const cells = p.cells;
  const host = $("cell-svg");
  $("cell-rnn").hidden = true;
  if (!cells || !LAYOUT[cells.kind]) {
    box.classList.add("no-cell");
    $("cell-title").textContent = S("cell_none", { model: p.model });
    host.replaceChildren();
    $("cell-tap").textContent = "";
    $("cell-eq").replaceChildren();
    state.cell = null;
    return;
  }
  box.classList.remove("no-cell");
  const kind = cells.kind;
  const layout = LAYOUT[kind];
  if (!EQUATIONS[kind][state.gate]) state.gate = null; // a gate of another kind of cell
  const root = svg("svg", { viewBox: "0 0 380 262", class: `cell-drawing kind-${kind}`, role: "group" });
  const arrowHead = svg("marker", { id: "cell-arrow", viewBox: "0 0 8 8", refX: 7, refY: 4, markerWidth: 6, markerHeight: 6, orient: "auto" });
  arrowHead.append(svg("path", { d: "M0 0 L8 4 L0 8 z", fill: "#555" }));
  const defs = svg("defs");
  defs.append(arrowHead);
  root.append(defs);
  for (const d of layout.wires) root.append(svg("path", { d, class: "wire" }));
  for (const [text, x, y] of layout.ops) {
    const g = svg("g", { class: "op" });
    g.append(svg("circle", { cx: x, cy: y, r: 9 }), svg("text", { x, y: y + 4.5, "text-anchor": "middle" }, text));
    root.append(g);
  }
  for (const [text, x, y] of layout.boxes) {
    const g = svg("g", { class: "op" });
    g.append(svg("rect", { x: x - 20, y: y - 10, width: 40, height: 20, rx: 8 }),
             svg("text", { x, y: y + 4, "text-anchor": "middle" }, text));
    root.append(g);
  }
  for (const [name, low, x, y] of layout.labels) root.append(subText({ x, y, class: "port" }, name, low));
  const parts = {};
  const unit = cells.memory ? cells.memory.unit : null;
  const panelOf = (key) => cells.panels.find((q) => q.key === key);
  for (const [key, symbol, act, x, y] of layout.gates) {
    const panel = panelOf(key);
    if (!panel) continue;
    const wide = kind === "rnn" ? 58 : GATE_W / 2;
    const g = svg("g", { class: "gate", "data-gate": key, tabindex: 0, role: "button" });
    g.append(svg("rect", { x: x - wide, y: y - GATE_H / 2, width: 2 * wide, height: GATE_H, rx: 6 }));
    const head = svg("text", { x, y: y - 10, "text-anchor": "middle", class: "gate-name" }, symbol);
    head.append(svg("tspan", { class: "gate-act", dx: 4 }, act));
    const mean = svg("text", { x, y: y + 7, "text-anchor": "middle", class: "gate-mean" });
    const one = svg("text", { x, y: y + 20, "text-anchor": "middle", class: "gate-unit" });
    const title = svg("title", {}, panel.label);
    g.append(title, head, mean, one);
    root.append(g);
    one.setAttribute("lengthAdjust", "spacingAndGlyphs");
    parts[key] = { g, mean, one, panel, fit: 2 * wide - 5 };
  }
  for (const [key, symbol, y] of layout.ends) {
    const panel = panelOf(key);
    const g = svg("g", { class: "gate end", "data-gate": key, tabindex: 0, role: "button" });
    g.append(svg("rect", { x: 321, y: y - 14, width: 58, height: 52, rx: 6 }));
    const head = subText({ x: 350, y: y + 2, "text-anchor": "middle", class: "gate-name" }, symbol, "t", 11);
    const mean = svg("text", { x: 350, y: y + 20, "text-anchor": "middle", class: "gate-mean" });
    const one = svg("text", { x: 350, y: y + 33, "text-anchor": "middle", class: "gate-unit" });
    g.append(svg("title", {}, panel.label), head, mean, one);
    root.append(g);
    one.setAttribute("lengthAdjust", "spacingAndGlyphs");
    parts[key] = { g, mean, one, panel, fit: 53 };
  }
  host.replaceChildren(root);
  state.cell = { kind, parts, unit };
  $("cell-tap").textContent = kind === "rnn" ? S("cell_tap_rnn") : S("cell_tap", { unit: unit === null ? "–" : unit + 1 });
  if (kind === "rnn") {
    $("cell-rnn").hidden = false;
    $("cell-rnn-text").textContent = S("rnn_forgets");
    const link = $("memory-link");
    link.textContent = S("memory_link");
    link.href = memoryLink(p);
    link.onclick = () => { link.href = memoryLink(p); };
  }
}

/** `?tab=memory` on this page, keeping the model, the typed text and the language (and an embed). */
function memoryLink(p) {
  const root = (window.gradio_config && window.gradio_config.root) || (location.origin + location.pathname);
  const params = new URLSearchParams();
  params.set("model", p.model);
  const typed = document.querySelector("#headlines textarea")?.value;
  params.set("text", typed && typed.trim() ? typed : p.headline);
  params.set("tab", "memory");
  params.set("lang", p.diagram.lang);
  const embed = new URLSearchParams(location.search).get("embed");
  if (embed) params.set("embed", embed);
  return root.replace(/\/$/, "") + "/?" + params.toString();
}

function moveCell(p, step) {
  const cell = state.cell;
  if (!cell) return;
  const [layerWord, layer, direction] = p.cells.choice.split(" ");
  void layerWord;
  $("cell-title").textContent = S("cell_title", {
    cell: cell.kind.toUpperCase(), word: p.tokens[step],
    row: rowName(Number(layer) - 1, direction === "forward" ? 0 : 1, p.diagram.layers).replace(/[→←]/g, "").trim(),
  });
  for (const part of Object.values(cell.parts)) {
    const values = part.panel.values[step];
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    part.mean.textContent = fixed(mean);
    const one = cell.unit === null ? "" : `u${cell.unit + 1} ${fixed(values[cell.unit])}`;
    part.one.textContent = one;
    // "u18 -0.21" is wider than a gate: squeezed into the box (no layout read: by its length alone)
    if (one.length * UNIT_CHAR > part.fit) part.one.setAttribute("textLength", String(part.fit));
    else part.one.removeAttribute("textLength");
    part.g.classList.toggle("picked", part.panel.key === state.gate);
    part.meanValue = mean;
  }
  if (state.gate) showEquation(p, step);
  markColumn(); // the heatmap frame stays where it is: a step moves no subplot
}

/** Tap on a gate: its equation, its values at this word, and its row marked in the cell views. */
function pickGate(key) {
  const p = state.payload;
  if (!p || !state.cell || !state.cell.parts[key]) return;
  state.gate = key;
  for (const part of Object.values(state.cell.parts)) part.g.classList.toggle("picked", part.panel.key === key);
  showEquation(p, state.step);
  markColumn();
  markHeatmaps();
}

function showEquation(p, step) {
  const cell = state.cell;
  const part = cell.parts[state.gate];
  const [textKey, formula] = EQUATIONS[cell.kind][state.gate];
  const name = el("p", "eq-name", part.panel.label);
  const eq = el("p", "eq-formula");
  eq.innerHTML = formula; // a constant of this file, never user text
  const what = el("p", "eq-text", S(textKey));
  const values = part.panel.values[step];
  const word = p.tokens[step];
  const numbers = el("p", "eq-values", cell.unit === null
    ? S("values_mean", { word, units: values.length, mean: fixed(part.meanValue) })
    : S("values", { word, units: values.length, mean: fixed(part.meanValue), unit: cell.unit + 1,
                    marker: p.strings?.memory_marker ?? "", value: fixed(values[cell.unit]) }));
  const nodes = [name, eq, what, numbers];
  if (cell.kind === "gru") nodes.push(el("p", "eq-note", S("eq_gru_note")));
  const box = $("cell-eq");
  box.dataset.gate = state.gate;
  box.replaceChildren(...nodes);
}

/** The picked gate's row in "Inside the cell" (reader_page.js redraws that column on every step). */
function markColumn() {
  const rows = document.querySelectorAll("#column-strip .col-row");
  const panels = state.payload?.cells?.panels || [];
  rows.forEach((row, k) => row.classList.toggle("gate-picked", Boolean(state.gate) && panels[k]?.key === state.gate));
}

/** The picked gate's heatmap: a frame laid over its subplot and a dotted line round the named unit's
 * row, placed from the drawn plot's own geometry (no redraw); hidden while no gate is picked. */
function markHeatmaps() {
  const gd = $("reader-cells");
  const host = gd?.parentElement;
  if (!host) return;
  let frame = document.getElementById("cells-gate");
  const fl = gd._fullLayout;
  const k = state.gate && state.payload?.cells ? state.payload.cells.panels.findIndex((q) => q.key === state.gate) : -1;
  const ya = fl && k >= 0 ? fl[`yaxis${k === 0 ? "" : k + 1}`] : null;
  if (!ya || !gd.offsetParent) { if (frame) frame.hidden = true; return; }
  if (!frame) {
    frame = el("div", "cells-gate");
    frame.id = "cells-gate";
    frame.append(el("span", "cells-gate-unit"));
    if (getComputedStyle(host).position === "static") host.style.position = "relative";
    host.append(frame);
  }
  const left = gd.offsetLeft + fl._size.l;
  frame.hidden = false;
  frame.dataset.gate = state.gate;
  Object.assign(frame.style, { left: `${left - 4}px`, width: `${fl._size.w + 8}px`,
                               top: `${gd.offsetTop + ya._offset - 4}px`, height: `${ya._length + 8}px` });
  const unit = state.payload.cells.memory ? state.payload.cells.memory.unit : null;
  const line = frame.firstChild;
  line.hidden = unit === null;
  if (unit !== null) {
    const a = ya.l2p(unit + 0.5);
    const b = ya.l2p(unit + 1.5);
    Object.assign(line.style, { top: `${Math.min(a, b) + 4}px`, height: `${Math.max(2, Math.abs(b - a))}px` });
  }
}

// ---------------------------------------------------------------- packing, on the packing tab

/** The packing tab's drawing for a new payload (page/packing_diagram.py); null clears it. */
async function drawPacking(payload) {
  state.packing = payload && payload.lesson ? payload : null;
  const box = $("packing-diagram-box");
  if (!box) return; // its tab is not on the page yet: drawn when it appears (watchMounts)
  if (!state.packing) {
    box.hidden = true;
    return;
  }
  const table = await strings(payload.lang);
  if (state.packing !== payload) return; // a newer one came while the texts were loading
  T = table;
  box.hidden = false;
  $("pack-title").textContent = S("pack_title");
  packBlock($("pack-lesson"), payload.lesson, { title: S("pack_lesson_title"), help: S("pack_lesson_help"), id: "lesson" });
  const learner = payload.learner;
  const node = $("pack-learner");
  if (!learner) {
    node.replaceChildren(el("p", "diagram-title", S("pack_learner_title")), el("p", "diagram-help", S("pack_empty")));
  } else {
    const notes = [];
    if (learner.padded.length === 1) notes.push(S("pack_one"));
    if (learner.cut) notes.push(S("pack_cut", payload.limits));
    packBlock(node, learner, { title: S("pack_learner_title"), help: S("pack_learner_help", { pad: learner.pad_id }),
                               id: "learner", notes });
  }
  box.dataset.drawn = String(Number(box.dataset.drawn || 0) + 1);
}

function packBlock(node, batch, { title, help, id, notes = [] }) {
  const rows = batch.padded.length;
  const steps = batch.padded[0].length;
  const words = batch.words || null;
  const rowName = (r) => S("pack_row", { n: r + 1 });
  const controls = el("div", "pack-controls");
  const prev = el("button", "pack-prev", "◀");
  const next = el("button", "pack-next", "▶");
  const range = el("input", "pack-range");
  const label = el("output", "pack-label");
  prev.type = next.type = "button";
  prev.setAttribute("aria-label", S("pack_prev"));
  next.setAttribute("aria-label", S("pack_next"));
  Object.assign(range, { type: "range", min: "0", max: String(steps - 1), step: "1", value: "0" });
  range.setAttribute("aria-label", S("pack_stepper"));
  controls.append(prev, range, next, label);

  // the padded batch, as typed (rows) and as time steps (columns)
  const grid = el("table", "pack-grid");
  const head = el("tr");
  head.append(el("th"));
  for (let t = 0; t < steps; t++) head.append(el("th", "pack-t", S("pack_time", { t: t + 1 })));
  grid.append(head);
  const cellAt = [];
  for (let r = 0; r < rows; r++) {
    const tr = el("tr");
    const name = el("th", "pack-row", rowName(r));
    name.append(el("small", "", S("pack_length", { n: batch.lengths[r] })));
    if (words) name.title = words[r].join(" ");
    tr.append(name);
    cellAt.push([]);
    for (let t = 0; t < steps; t++) {
      const pad = t >= batch.lengths[r];
      const td = el("td", pad ? "pad" : "tok");
      td.append(el("span", "id", String(batch.padded[r][t])));
      if (words) td.append(el("span", "w", pad ? S("pack_pad") : words[r][t]));
      td.title = pad ? S("pack_pad") : `${rowName(r)}, ${S("pack_time", { t: t + 1 })}`;
      tr.append(td);
      cellAt[r].push(td);
    }
    grid.append(tr);
  }
  const scroll = el("div", "pack-scroll");
  // a region the keyboard can reach and scroll, named by its caption (a wide batch scrolls on a phone)
  Object.assign(scroll, { tabIndex: 0 });
  scroll.setAttribute("role", "region");
  scroll.setAttribute("aria-label", S("pack_padded"));
  scroll.append(grid);

  // the packed data, one group per time step, and the batch sizes
  const packed = el("div", "pack-packed");
  const groups = [];
  let offset = 0;
  batch.batch_sizes.forEach((size, t) => {
    const group = el("span", "pack-group");
    const items = el("span", "pack-items");
    for (let k = offset; k < offset + size; k++) {
      const [r, at] = batch.origin[k];
      const item = el("span", "pack-item");
      item.append(el("span", "id", String(batch.data[k])));
      if (words) item.append(el("span", "w", words[r][at]));
      item.title = `${rowName(r)}, ${S("pack_time", { t: at + 1 })}`;
      items.append(item);
    }
    group.append(items, el("small", "", S("pack_time", { t: t + 1 })));
    packed.append(group);
    groups.push(group);
    offset += size;
  });
  const sizes = el("div", "pack-sizes");
  const sizeNodes = batch.batch_sizes.map((size) => el("b", "", String(size)));
  sizes.append("[");
  sizeNodes.forEach((b, t) => { sizes.append(b); if (t < sizeNodes.length - 1) sizes.append(", "); });
  sizes.append("]");
  const status = el("p", "pack-status");
  status.setAttribute("aria-live", "polite");
  const total = rows * steps;
  const real = batch.lengths.reduce((a, b) => a + b, 0);
  const totals = el("p", "diagram-help", S("pack_totals", { total, pads: total - real, real }));

  node.replaceChildren(el("p", "diagram-title", title), el("p", "diagram-help", help),
                       ...notes.map((text) => el("p", "pack-note", text)), controls,
                       el("p", "pack-caption", S("pack_padded")), scroll, el("p", "pack-caption", S("pack_packed")), packed,
                       el("p", "pack-caption", S("pack_sizes")), sizes, status, totals);
  node.dataset.block = id;

  const order = batch.sorted; // longest first: the packed LSTM reads the first batch_sizes[t] of them
  const move = (t) => {
    const t0 = performance.now();
    t = Math.max(0, Math.min(steps - 1, t));
    range.value = String(t);
    node.dataset.step = String(t);
    label.textContent = S("pack_step", { t: t + 1, n: steps, size: batch.batch_sizes[t] });
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < steps; c++) {
        const td = cellAt[r][c];
        const pad = c >= batch.lengths[r];
        td.classList.toggle("now", c === t && !pad);
        td.classList.toggle("pad-now", c === t && pad);
        td.classList.toggle("done", c < t);
      }
    }
    groups.forEach((g, k) => { g.classList.toggle("now", k === t); g.classList.toggle("later", k > t); });
    sizeNodes.forEach((b, k) => b.classList.toggle("now", k === t));
    const reading = order.slice(0, batch.batch_sizes[t]).map(rowName).join(", ");
    const ended = order.slice(batch.batch_sizes[t]).map(rowName);
    let padsSoFar = 0;
    for (let c = 0; c <= t; c++) padsSoFar += rows - batch.batch_sizes[c];
    const pads = ended.length ? S("pack_pads", { rows: ended.join(", "), pads: padsSoFar, total: rows * (t + 1) })
                              : S("pack_no_pads");
    status.textContent = `${S("pack_reading", { rows: reading })} ${pads}`;
    state.packTimes.push(performance.now() - t0);
  };
  range.addEventListener("input", () => move(Number(range.value)));
  prev.addEventListener("click", () => move(Number(range.value) - 1));
  next.addEventListener("click", () => move(Number(range.value) + 1));
  move(0);
}

/** Gradio puts a tab's content on the page when the tab is first opened: a container that appears
 * (or comes back) empty is drawn from what this module already has. */
function watchMounts() {
  new MutationObserver(() => {
    const box = $("packing-diagram-box");
    if (box && state.packing && !box.dataset.drawn) drawPacking(state.packing);
    const grid = $("net-grid");
    if (grid && state.built && !grid.firstChild) { build(); moveTo(state.step); }
  }).observe(document.body, { childList: true, subtree: true });
}

window.rnnDiagrams = { drawPacking, state };
listen();
watchMounts();
