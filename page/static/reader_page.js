// The Read tab, drawn in the browser. One Read sends the numbers (page/reader.py's payload); this
// module draws every Read view from them with the drawing code it shares with the widget
// (web/reader.js), and the word stepper moves every view without asking the server anything.
//
// Loaded by the page head's loader (page/assets.py), which hands over its own Plotly: Gradio's
// gr.Plot later replaces window.Plotly with another copy. Redraws use Plotly.react / relayout /
// restyle on plots made once; window.rnnReaderState exposes the state to tests and the bench.
// Every move of the stepper (and every new Read) is announced as a "rnn-reader-step" event on
// `document` with {payload, step} (payload null: nothing to show), for views drawn by other modules.
import * as R from "./reader.js";
import "./diagrams.js"; // the lesson's diagrams: they follow the "rnn-reader-step" events below

let P = null; // Plotly, as loaded by the head's loader
let base = "";
const PLAY_MS = 800; // one word per beat while playing
const state = {
  payload: null, step: 0, steps: 0, dims: 2, geo: null, pathTraces: null, clouds: new Map(), cloud: null,
  drawn: 0, stepTimes: [], linkStep: null, timer: null, cellsDrawn: false, linkNote: "",
};
window.rnnReaderState = state;

const $ = (id) => document.getElementById(id);
const S = (key, params = {}) => {
  let text = state.payload?.strings?.[key] ?? key;
  for (const [name, value] of Object.entries(params)) text = text.split(`{${name}}`).join(String(value));
  return text;
};
const words = () => ({
  start: S("start"), end: S("end"), average: S("average"), word: S("word"), probability: S("probability"),
  forward: S("forward"), backward: S("backward"), axis: (n, percent) => S("axis", { n, percent }),
});

export function init(plotly, baseHref) {
  P = plotly;
  base = baseHref;
  const params = new URLSearchParams(location.search);
  state.dims = params.get("dims") === "3" ? 3 : 2;
  if ($("reader-layers")) bindTurning();
  const asked = params.get("step");
  if (asked !== null && asked.trim() !== "") {
    const n = Number(asked);
    if (Number.isInteger(n) && n >= 1) state.linkStep = n - 1;
    else state.linkNote = `step=${asked.slice(0, 20)}`;
  }
  let frame = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => {
      const box = $("reader-trajectory");
      if (state.payload && box && state.geo && box.clientWidth !== state.geo.width) redrawAll();
    });
  });
}

function cloudFor(model) {
  if (!state.clouds.has(model)) {
    const promise = fetch(new URL(`cloud/${encodeURIComponent(model)}.json`, base)).then((r) => {
      if (!r.ok) throw new Error(`reference cloud of ${model}: HTTP ${r.status}`);
      return r.json();
    });
    promise.catch(() => state.clouds.delete(model));
    state.clouds.set(model, promise);
  }
  return state.clouds.get(model);
}

/** Draw every Read view for a new payload (null: clear them). A failure is kept in state.error
 * (and logged): the page's own answer above still stands. */
export async function draw(payload) {
  try {
    await drawViews(payload);
    state.error = null;
  } catch (err) {
    state.error = String(err && err.stack ? err.stack : err);
    console.error("rnn_demo: drawing the Read views failed", err);
  }
}

async function drawViews(payload) {
  state.drawStart = performance.now();
  stop();
  state.payload = payload && payload.model ? payload : null;
  const root = $("reader-stepper");
  document.querySelectorAll(".reader-view").forEach((n) => n.classList.toggle("reader-empty", !state.payload));
  if (!state.payload) {
    document.dispatchEvent(new CustomEvent("rnn-reader-step", { detail: { payload: null, step: null } }));
    state.drawn += 1;
    if (root) root.dataset.drawn = String(state.drawn);
    return;
  }
  const p = state.payload;
  // the cell's values arrive as whole hundredths (page/reader.py: a third fewer bytes than floats)
  for (const panel of p.cells ? p.cells.panels : []) {
    if (panel.hundredths) { panel.values = panel.hundredths.map((word) => word.map((v) => v / 100)); delete panel.hundredths; }
  }
  state.steps = p.tokens.length;
  const asked = state.linkStep;
  state.linkStep = null; // a link's step applies to its first Read only
  state.step = asked !== null ? Math.min(asked, state.steps - 1) : state.steps - 1;
  state.cloud = p.directions ? await cloudFor(p.model) : null;
  if (state.payload !== p) return; // a newer Read arrived while the cloud was loading
  buildStepper();
  redrawAll();
  state.drawn += 1;
  root.dataset.drawn = String(state.drawn);
  $("reader-trajectory").dataset.headline = p.headline;
  state.drawMs = performance.now() - state.drawStart;
  if (state.drawn === 1) state.firstDrawn = { start: state.drawStart, end: performance.now() };
}

function redrawAll() {
  const t = [performance.now()];
  drawTrajectory();
  t.push(performance.now());
  drawPrefix();
  t.push(performance.now());
  drawColumnFrame();
  drawCells();
  t.push(performance.now());
  setStep(state.step);
  t.push(performance.now());
  // where a redraw's time went (read by bench/bench_page.py)
  state.parts = { trajectory: t[1] - t[0], prefix: t[2] - t[1], cells: t[3] - t[2], step: t[4] - t[3] };
}

// ---------------------------------------------------------------- the stepper

function buildStepper() {
  const p = state.payload;
  const chips = p.tokens.map((word, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "word" + (p.known[i] ? "" : " unknown");
    b.textContent = word;
    b.addEventListener("click", () => { stop(); setStep(i); });
    return b;
  });
  $("step-words").replaceChildren(...chips);
  const range = $("stepper");
  range.min = "0";
  range.max = String(state.steps - 1);
  range.value = String(state.step);
  range.setAttribute("aria-label", S("stepper"));
  if (!range.dataset.bound) {
    range.dataset.bound = "1";
    range.addEventListener("input", () => { stop(); setStep(Number(range.value)); });
    $("play").addEventListener("click", () => (state.timer ? stop() : play()));
    $("reader-stepper").addEventListener("keydown", (event) => {
      if (event.target === range) return; // the slider moves itself with the arrow keys
      const moves = { ArrowLeft: -1, ArrowRight: 1, Home: -Infinity, End: Infinity };
      if (!(event.key in moves)) return;
      event.preventDefault();
      stop();
      setStep(Math.max(0, Math.min(state.steps - 1, state.step + moves[event.key])));
    });
  }
  setPlayLabel();
  $("step-watch").textContent = p.watch;
  const limit = p.words > p.limit ? S("limit", { limit: p.limit, words: p.words }) : "";
  $("step-limit").textContent = [limit, state.linkNote].filter(Boolean).join(" ");
  state.linkNote = "";
}

function setPlayLabel() {
  const button = $("play");
  const playing = Boolean(state.timer);
  button.textContent = playing ? "❚❚" : "▶";
  button.setAttribute("aria-label", S(playing ? "pause" : "play"));
  button.title = S(playing ? "pause" : "play");
}

function play() {
  if (state.step >= state.steps - 1) setStep(0);
  state.timer = setInterval(() => {
    if (state.step >= state.steps - 1) { stop(); return; }
    setStep(state.step + 1);
  }, PLAY_MS);
  setPlayLabel();
}

function stop() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
  if ($("play")) setPlayLabel();
}

/** Move every linked view to word `i` (0-based). No request: everything is in the payload. */
export function setStep(i) {
  const p = state.payload;
  if (!p) return;
  const t0 = performance.now();
  i = Math.max(0, Math.min(state.steps - 1, i));
  state.step = i;
  window.rnnReaderStep = i;
  const range = $("stepper");
  range.value = String(i);
  const label = S("step", { i: i + 1, n: state.steps, word: p.tokens[i] });
  range.setAttribute("aria-valuetext", label);
  $("step-label").textContent = label;
  $("step-words").querySelectorAll(".word").forEach((b, k) => {
    b.classList.toggle("current", k === i);
    b.classList.toggle("read", k < i);
    b.setAttribute("aria-pressed", String(k === i));
  });
  document.querySelectorAll("#importance .importance .chip").forEach((chip, k) => chip.classList.toggle("current", k === i));
  $("step-after").textContent = S("after", { word: p.tokens[i] });
  const bars = $("step-bars");
  bars.classList.toggle("muted", !p.answerable);
  R.renderBars(bars, p.prefix[i], p.classes);
  moveMarker(i);
  R.placeBand($("prefix-band"), $("reader-prefix"), i + 1);
  if (state.cellsDrawn) R.placeBand($("cells-band"), $("reader-cells"), i);
  drawColumn(i);
  // other views that follow the stepper (e.g. diagrams) listen for this; the payload is the Read's
  document.dispatchEvent(new CustomEvent("rnn-reader-step", { detail: { payload: p, step: i } }));
  state.stepTimes.push(performance.now() - t0);
}

// ---------------------------------------------------------------- the trajectory

const VIEW = { yaw: -0.6, pitch: 0.35 }; // the 3-D view's starting angle (radians)

function drawTrajectory() {
  const p = state.payload;
  const box = $("reader-trajectory");
  const flat = $("reader-layers");
  if (!state.cloud || !p.paths.length) {
    box.classList.add("no-path");
    $("reader-legend").textContent = S("no_trajectory", { model: p.model });
    if ($("reader-cloud").data) { P.purge("reader-cloud"); P.purge("reader-path"); }
    state.geo = null;
    return;
  }
  box.classList.remove("no-path");
  box.classList.toggle("turnable", state.dims === 3);
  drawLegend();
  const width = box.clientWidth || 600;
  const three = state.dims === 3;
  const view = state.view || (state.view = { ...VIEW });
  const shown = three ? R.turned(state.cloud, p.paths, view) : { cloud: state.cloud, paths: p.paths, ranges: null };
  const old = state.geo && state.geo.turned === three ? state.geo : null;
  const geo = R.trajectoryGeometry({ cloud: shown.cloud, paths: shown.paths, width, previous: old,
                                     key: p.model, ranges: shown.ranges });
  const same = !three && old && old.key === geo.key && old.width === geo.width &&
    geo.ranges.every((r, d) => r === old.ranges[d]);
  state.geo = geo;
  flat.style.height = `${R.trajectoryHeight(geo)}px`;
  if (!same || !$("reader-cloud").data) {
    // axes (and the 3-D view's arrows) by Plotly; the cloud's points on the canvas above them
    const axes = [...R.panelTraces(geo.D), ...(three ? R.axisTraces(state.cloud, shown.axes, words()) : [])];
    P.react("reader-cloud", axes, R.trajectoryLayout(shown.cloud, geo, true, words()), R.PLOT_CONFIG);
    R.paintCloud($("reader-canvas"), $("reader-cloud"), shown.cloud, geo.D, three);
  }
  P.react("reader-path", R.pathTraces(geo, { meanPooling: p.pooling === "mean", text: words() }),
          R.trajectoryLayout(shown.cloud, geo, false, words()), R.PLOT_CONFIG);
}

function moveMarker(i) {
  R.placeRings($("reader-layers"), $("reader-cloud"), state.geo, i);
}

/** Drag (mouse or finger) on the 3-D view turns it; one redraw per frame at most. */
function bindTurning() {
  const layer = $("reader-layers");
  if (layer.dataset.turning) return;
  layer.dataset.turning = "1";
  let start = null;
  let frame = 0;
  layer.addEventListener("pointerdown", (event) => {
    if (state.dims !== 3) return;
    start = { x: event.clientX, y: event.clientY, view: { ...state.view } };
    layer.setPointerCapture(event.pointerId);
  }, true); // capture: before the plots' own drag handling
  layer.addEventListener("pointermove", (event) => {
    if (!start) return;
    state.view = { yaw: start.view.yaw + (event.clientX - start.x) / 120,
                   pitch: Math.max(-1.4, Math.min(1.4, start.view.pitch + (event.clientY - start.y) / 120)) };
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => { drawTrajectory(); moveMarker(state.step); });
  }, true);
  const end = () => { start = null; };
  layer.addEventListener("pointerup", end, true);
  layer.addEventListener("pointercancel", end, true);
}

function drawLegend() {
  const p = state.payload;
  const items = p.classes.map((name, c) => {
    const item = document.createElement("span");
    const dot = document.createElement("i");
    dot.className = "dot";
    dot.style.background = R.PALETTE[c % R.PALETTE.length];
    item.append(dot, name);
    return item;
  });
  const paths = p.paths.map((path, k) => {
    const item = document.createElement("span");
    item.className = "path";
    const line = document.createElement("i");
    line.className = k === 0 ? "line" : "line dotted";
    line.style.borderColor = R.PATH_COLOURS[k % R.PATH_COLOURS.length];
    item.append(line, path.name.length > 60 ? `${path.name.slice(0, 59)}…` : path.name);
    item.title = path.name;
    return item;
  });
  const marks = document.createElement("span");
  const mean = p.pooling === "mean" ? `, ✕ ${S("average")}` : "";
  marks.textContent = `○ ${S("start")}, ★ ${S("end")}${mean}, ◯ ${S("word")}`;
  $("reader-legend").replaceChildren(...items, ...paths, marks);
}

/** The 2-D / 3-D switch (the page's radio): redrawn from what the browser already has. The 3-D
 * view is the states' first three principal components, turned by dragging. */
export function setDims(value) {
  state.dims = value === "3-D" || value === 3 ? 3 : 2;
  bindTurning();
  if (!state.payload) return;
  drawTrajectory();
  moveMarker(state.step);
}

// ---------------------------------------------------------------- prediction as it reads

function drawPrefix() {
  const p = state.payload;
  const div = $("reader-prefix");
  const positions = p.tokens.map((_, i) => i + 1);
  const fig = R.prefixFigure({ positions, labels: p.tokens, prefix: p.prefix, classNames: p.classes, text: words(),
                               width: div.clientWidth || undefined });
  P.react(div, fig.data, fig.layout, R.PLOT_CONFIG);
}

// ---------------------------------------------------------------- inside the cell

function drawColumnFrame() {
  const p = state.payload;
  $("column-memory").textContent = p.cells ? p.cells.memory_text : S("no_cells", { model: p.model });
  $("reader-column").classList.toggle("no-cells", !p.cells);
}

function drawColumn(i) {
  const p = state.payload;
  if (!p.cells) {
    $("column-title").textContent = "";
    $("column-strip").replaceChildren();
    $("column-changed").textContent = "";
    return;
  }
  const cells = p.cells;
  const panel = cells.panels.find((q) => q.key === cells.changed_key);
  const changed = R.changedUnits(panel.values, i);
  $("column-title").textContent = S("column", { word: p.tokens[i] });
  R.renderColumn($("column-strip"), cells, i, { memoryUnit: cells.memory ? cells.memory.unit : null,
                                                 changed: changed.map((c) => c.unit), memoryLabel: S("memory_marker") });
  const units = changed.map((c) => `${S("unit", { n: c.unit + 1 })} (${c.change >= 0 ? "+" : "−"}${Math.abs(c.change).toFixed(2)})`);
  $("column-changed").textContent = S("changed", { word: p.tokens[i], state: panel.label, units: units.join(", ") });
}

/** The heatmaps: drawn while their section is open (and when it opens). */
export function drawCells() {
  const p = state.payload;
  const div = $("reader-cells");
  state.cellsDrawn = false;
  if (!div || !p || !P) return;
  if (!p.cells) {
    if (div.data) P.purge(div);
    div.textContent = S("no_cells", { model: p.model });
    return;
  }
  $("cells-title").textContent = `${p.model}: ${p.cells.label}`;
  if (!div.offsetParent) return; // closed: drawn when opened
  if (!div.data) div.textContent = "";
  const fig = R.cellsFigure(p.cells, p.tokens, { width: div.clientWidth || undefined });
  P.react(div, fig.data, fig.layout, R.PLOT_CONFIG);
  state.cellsDrawn = true;
  R.placeBand($("cells-band"), div, state.step);
}
