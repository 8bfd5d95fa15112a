// The lesson widget: an exported recurrent classifier running in the browser (ONNX Runtime Web,
// WASM), redrawn on every keystroke. Files it reads (all written by `python -m export --web DIR`):
//   site.json, locales/LANG.json, lowercase.json, models/NAME.json|.onnx, vocab/SHA.json
// Deep links: ?model=NAME&text=...&lang=en|ko. The element #answer holds the top class, in the
// page's language. window.rnnWidget exposes the last result and timings (tests, bench/bench_web.py).
import * as ort from "./vendor/ort.wasm.bundle.min.mjs";
import { Tokenizer, casingTables } from "./tokenizer.js";
import * as R from "./reader.js"; // the drawing code the page's Read tab uses too
import { inputProblem } from "./input_rule.js";

const PALETTE = R.PALETTE;
const PATH_COLOUR = R.PATH_COLOURS[0]; // the headline's path: dark, so it never reads as a class colour
const MAX_PREFIX_ROWS = 64; // prefixes computed per keystroke (longer texts: evenly spaced ones)
const URL_DELAY_MS = 300; // browsers throttle history updates; typing fast must not hit that

// Static hosts send no COOP/COEP headers, so WASM threads are unavailable; one thread also keeps
// the page light on a phone. The runtime is vendored next to this file: nothing is fetched elsewhere.
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = { wasm: new URL("./vendor/ort-wasm-simd-threaded.wasm", import.meta.url).href };

const api = { ready: null, last: null, timings: [], state: null, marks: {} };
const mark = (name) => { if (!(name in api.marks)) api.marks[name] = performance.now(); };

// A 72-byte ONNX graph (y = Identity(x), float [1], opset 17, written with onnx.helper). Creating a
// session from it starts the runtime's WASM download, compile and start-up at once, while the
// manifest and the model are still loading; the model's session is created once it is done
// (the runtime initialises once, so the two creations must not race).
const WARMUP_MODEL = "CAgSADo8ChAKAXgSAXkiCElkZW50aXR5EgZ3YXJtdXBaDwoBeBIKCggIARIECgIIAWIPCgF5EgoKCAgBEgQKAggBQgQKABAR";
let runtimeReady = null;
function warmUpRuntime() {
  runtimeReady ??= ort.InferenceSession.create(Uint8Array.from(atob(WARMUP_MODEL), (c) => c.charCodeAt(0)))
    .then((session) => { mark("runtime_ready"); return session.release(); },
          (err) => console.warn("runtime warm-up failed; loading on demand", err));
  return runtimeReady;
}

const $ = (id) => document.getElementById(id);

// Plotly (1.2 MB of script) is needed only to draw. index.html preloads it; it runs once the first
// answer is on screen, so parsing it does not hold up the model (it would block the main thread).
let plotlyPromise = null;
function plotlyReady() {
  plotlyPromise ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = new URL("./vendor/plotly-basic.min.js", import.meta.url).href;
    script.onload = () => resolve(window.Plotly);
    script.onerror = () => reject(new Error("vendor/plotly-basic.min.js could not be loaded"));
    document.head.append(script);
  });
  return plotlyPromise;
}
window.rnnWidget = api;

const state = {
  site: null, lang: "en", strings: {}, fallback: {}, casing: null,
  modelName: null, model: null, // {meta, session, tokenizer}
  models: new Map(), vocabs: new Map(), text: "", geometry: null,
  queued: null, running: false, urlTimer: null,
};
api.state = state;

// ------------------------------------------------------------------ loading

async function fetchJson(path, what) {
  let response;
  try {
    response = await fetch(path);
  } catch (err) {
    throw new Error(`${what} (${path}): ${err.message}`);
  }
  if (!response.ok) throw new Error(`${what} (${path}): HTTP ${response.status}`);
  return response.json();
}

async function fetchBytes(path, what) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${what} (${path}): HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function loadLocale(lang) {
  const [strings, fallback] = await Promise.all([
    fetchJson(`locales/${lang}.json`, `translations ${lang}`),
    lang === "en" ? null : fetchJson("locales/en.json", "translations en"),
  ]);
  state.lang = lang;
  state.strings = strings;
  state.fallback = fallback || strings;
}

/** Start (once) the downloads of a model's graph and description; their paths are fixed by the build. */
const prefetched = new Map();
function prefetchModel(name) {
  if (!prefetched.has(name)) {
    const bytes = fetchBytes(`models/${encodeURIComponent(name)}.onnx`, `model ${name}`)
      .finally(() => mark("model_fetched"));
    const meta = fetchJson(`models/${encodeURIComponent(name)}.json`, `model ${name}`);
    bytes.catch(() => {}); // a bad ?model= name is reported by start(), not as an unhandled rejection
    meta.catch(() => {});
    prefetched.set(name, { bytes, meta });
  }
  return prefetched.get(name);
}

/** Load (once) the model's description, vocabulary and onnxruntime session. */
function loadModel(name) {
  if (!state.models.has(name)) {
    const promise = (async () => {
      const { bytes: bytesPromise, meta: metaPromise } = prefetchModel(name);
      const fetchVocab = (path) => {
        if (!state.vocabs.has(path)) state.vocabs.set(path, fetchJson(path, "vocabulary"));
      };
      const entry = state.site.models.find((m) => m.name === name);
      if (entry?.vocab) fetchVocab(entry.vocab); // named in the manifest: no need to wait for the model's file
      const meta = await metaPromise;
      fetchVocab(meta.vocab);
      const sessionPromise = Promise.all([bytesPromise, warmUpRuntime()]).then(([bytes]) =>
        ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" }));
      const [vocab, session, casing] = await Promise.all([state.vocabs.get(meta.vocab), sessionPromise,
                                                         state.casing]);
      return { meta, session, tokenizer: new Tokenizer(vocab.tokens, casing, vocab.unk_id) };
    })();
    promise.catch(() => state.models.delete(name)); // a later pick may retry
    state.models.set(name, promise);
  }
  return state.models.get(name);
}

// ------------------------------------------------------------------ text in the page's language

function t(key, params = {}) {
  let text = state.strings[key] ?? state.fallback[key] ?? key;
  for (const [name, value] of Object.entries(params)) text = text.split(`{${name}}`).join(String(value));
  return text;
}

const className = (index) => t(state.site.class_keys[index]);

function applyStrings() {
  document.documentElement.lang = state.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  document.title = t("widget.title");
  const modelSelect = $("model");
  modelSelect.replaceChildren(...state.site.models.map((m) => new Option(m.name, m.name)));
  modelSelect.value = state.modelName;
  const langSelect = $("lang");
  langSelect.replaceChildren(...state.site.languages.map((lang) => new Option(langName(lang), lang)));
  langSelect.value = state.lang;
  const examples = $("examples");
  examples.replaceChildren(examples.firstElementChild);
  for (const text of state.site.examples) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = text;
    button.title = text;
    button.addEventListener("click", () => {
      $("text").value = text;
      schedule(performance.now());
    });
    examples.append(button);
  }
  buildBars();
}

function langName(lang) {
  return state.site.language_names?.[lang] ?? lang;  // each language named in its own words (site.json)
}

function describeModel() {
  const meta = state.model.meta;
  const key = `model.${meta.name}`;
  const text = key in state.strings || key in state.fallback ? t(key) : meta.description;
  const accuracy = meta.test_accuracy
    ? ` · ${t("widget.test_accuracy", { percent: (100 * meta.test_accuracy).toFixed(1) })}` : "";
  $("model-info").textContent = `${text}${accuracy} · ${t(`widget.precision_${meta.precision}`)}`;
}

// ------------------------------------------------------------------ the model

/**
 * Run the model on the text: answer, per-step states and the answer after each word.
 *
 * All prefixes go through as one batch (row r = words 0..L_r, right-padded, lengths L_r), so one
 * run gives the prefix curve; the last row is the whole text and also gives the states:
 *     row 0   a _ _ _   length 1
 *     row 1   a b _ _   length 2
 *     row 3   a b c d   length 4   -> logits (rows, C), states (rows, T, D*H)
 * The lesson's `last_padded` model ignores lengths and reads the padding, so each of its prefixes
 * runs alone instead (as the app's prefix view does).
 */
async function runModel(model, ids) {
  const meta = model.meta;
  const T = ids.length;
  const C = meta.class_names.length;
  const DH = meta.num_directions * meta.hidden_size;
  const prefixLengths = choosePrefixes(T);
  const rows = prefixLengths.length;
  const prefixLogits = new Float32Array(rows * C);
  let states;
  if (meta.pooling === "last_padded") {
    for (let r = 0; r < rows; r++) {
      const n = prefixLengths[r];
      const out = await model.session.run(feeds([ids.slice(0, n)], n));
      prefixLogits.set(out.logits.data, r * C);
      if (r === rows - 1) states = out.states.data; // (1, T, D*H)
    }
  } else {
    const batch = prefixLengths.map((n) => ids.slice(0, n));
    const out = await model.session.run(feeds(batch, T));
    prefixLogits.set(out.logits.data);
    states = out.states.data.subarray((rows - 1) * T * DH, rows * T * DH); // the whole text's row
  }
  const logits = Array.from(prefixLogits.subarray((rows - 1) * C, rows * C));
  return { logits, states, prefixLengths, prefixLogits, C, DH };
}

function choosePrefixes(T) {
  if (T <= MAX_PREFIX_ROWS) return Array.from({ length: T }, (_, i) => i + 1);
  const picked = new Set();
  for (let k = 1; k <= MAX_PREFIX_ROWS; k++) picked.add(Math.round((k * T) / MAX_PREFIX_ROWS));
  return [...picked].sort((a, b) => a - b);
}

function feeds(batch, width) {
  const tokens = new BigInt64Array(batch.length * width); // zeros = PAD_ID
  const lengths = new BigInt64Array(batch.length);
  batch.forEach((row, r) => {
    row.forEach((id, c) => { tokens[r * width + c] = BigInt(id); });
    lengths[r] = BigInt(row.length);
  });
  return {
    tokens: new ort.Tensor("int64", tokens, [batch.length, width]),
    lengths: new ort.Tensor("int64", lengths, [batch.length]),
  };
}

function softmax(logits) {
  const top = Math.max(...logits);
  const exps = logits.map((x) => Math.exp(x - top));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((x) => x / sum);
}

/** Per direction: (T, 3) coordinates of the states in the app's stored PCA, in token order. */
function project(meta, states, T, DH) {
  const H = meta.hidden_size;
  return meta.projection.directions.map((dir, d) => {
    const coords = [];
    for (let step = 0; step < T; step++) {
      const base = step * DH + d * H;
      const point = [0, 0, 0];
      for (let h = 0; h < H; h++) {
        const centred = states[base + h] - dir.mean[h];
        const row = dir.components[h];
        point[0] += centred * row[0];
        point[1] += centred * row[1];
        point[2] += centred * row[2];
      }
      coords.push(point);
    }
    return coords;
  });
}

// ------------------------------------------------------------------ drawing

const PLOT_CONFIG = R.PLOT_CONFIG;

function buildBars() {
  const bars = $("bars");
  bars.replaceChildren();
  state.site.class_keys.forEach((key, c) => {
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = className(c);
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.background = PALETTE[c % PALETTE.length];
    track.append(fill);
    const pct = document.createElement("span");
    pct.className = "pct";
    bars.append(name, track, pct);
  });
}

const PROBLEM_NOTES = { empty: "widget.empty", not_english: "widget.not_english", numbers_only: "widget.numbers_only",
                        no_known_words: "widget.all_unknown" };

function showAnswer(result) {
  const box = document.querySelector(".answer-box");
  const fills = document.querySelectorAll("#bars .fill");
  const pcts = document.querySelectorAll("#bars .pct");
  const notes = [];
  if (!result) {
    $("answer").textContent = "";
    box.classList.add("muted");
    fills.forEach((f) => { f.style.width = "0"; });
    pcts.forEach((p) => { p.textContent = ""; });
    $("notes").textContent = t("widget.empty");
    return;
  }
  // The page's input rule (input_rule.js): no confident-looking answer for a text the page refuses
  // (not English, no known word, numbers only), and the same reason, said in the page's language.
  const problem = inputProblem(result.text, result.tokens, result.ids);
  const refused = problem !== null;
  $("answer").textContent = refused ? "" : className(result.predicted);
  $("answer").dataset.classIndex = refused ? "" : String(result.predicted);
  $("answer").dataset.problem = problem ?? "";
  box.classList.toggle("muted", refused);
  result.probabilities.forEach((p, c) => {
    fills[c].style.width = `${(100 * p).toFixed(1)}%`;
    pcts[c].textContent = `${(100 * p).toFixed(1)} %`;
  });
  if (refused) {
    notes.push(t(PROBLEM_NOTES[problem]));
  } else {
    const unknown = [...new Set(result.tokens.filter((_, i) => !result.known[i]))];
    if (unknown.length) notes.push(t("widget.unknown_words", { words: unknown.join(", ") }));
  }
  $("notes").textContent = notes.join(" ");
}

/** The widget's wording for the shared drawing code (web/reader.js). */
function words() {
  return {
    start: t("widget.start"), end: t("widget.end"), average: t("widget.average_short"), word: t("widget.word"),
    probability: t("widget.probability"), forward: t("widget.trajectory_forward"),
    backward: t("widget.trajectory_backward"), axis: (n, percent) => t("widget.axis", { n, percent }),
  };
}

function trajectoryGeometry(meta, result, previous) {
  const paths = result ? [{ name: result.text, tokens: result.tokens, coords: result.coords }] : [];
  const geo = R.trajectoryGeometry({ cloud: meta.projection, paths, width: $("trajectory").clientWidth,
                                     previous, key: meta.name });
  geo.lang = state.lang;
  return geo;
}

function drawLegend() {
  const legend = $("legend");
  const items = state.site.class_keys.map((_, c) => {
    const item = document.createElement("span");
    const dot = document.createElement("i");
    dot.className = "dot";
    dot.style.background = PALETTE[c % PALETTE.length];
    item.append(dot, className(c));
    return item;
  });
  const path = document.createElement("span");
  const line = document.createElement("i");
  line.className = "line";
  const mean = state.model.meta.pooling === "mean" ? `, ✕ ${t("widget.average")}` : "";
  path.append(line, `${t("widget.path")} (○ ${t("widget.start")}, ★ ${t("widget.end")}${mean})`);
  legend.replaceChildren(...items, path);
}

async function drawTrajectory(result) {
  const meta = state.model.meta;
  const geo = trajectoryGeometry(meta, result, state.geometry);
  const old = state.geometry;
  const same = old && old.key === geo.key && old.lang === geo.lang && old.width === geo.width &&
    geo.ranges.every((r, d) => r === old.ranges[d]);
  state.geometry = geo;
  if (!same) {
    drawLegend();
    // axes by Plotly, the reference cloud on the canvas above them (web/reader.js paintCloud)
    await Plotly.react("trajectory-cloud", R.panelTraces(geo.D),
                       R.trajectoryLayout(meta.projection, geo, true, words()), PLOT_CONFIG);
    R.paintCloud($("trajectory-canvas"), $("trajectory-cloud"), meta.projection, geo.D);
  }
  await Plotly.react("trajectory-path", R.pathTraces(geo, { meanPooling: meta.pooling === "mean", text: words() }),
                     R.trajectoryLayout(meta.projection, geo, false, words()), PLOT_CONFIG);
}

function prefixFigure(result) {
  const positions = result ? result.prefixLengths : [];
  const fig = R.prefixFigure({ positions, labels: result ? positions.map((n) => result.tokens[n - 1]) : [],
                               prefix: result ? result.prefix : [], text: words(),
                               classNames: state.site.class_keys.map((_, c) => className(c)) });
  fig.layout.datarevision = performance.now();
  return fig;
}

async function draw(result) {
  showAnswer(result);
  mark("first_answer");
  await plotlyReady();
  await drawTrajectory(result);
  const trajectoryDrawn = performance.now();
  const prefix = prefixFigure(result);
  await Plotly.react("prefix", prefix.data, prefix.layout, PLOT_CONFIG);
  return trajectoryDrawn;
}

// ------------------------------------------------------------------ one update per keystroke

async function analyze(text) {
  const model = state.model;
  const encoded = model.tokenizer.encode(text);
  if (!encoded.ids.length) return null;
  const run = await runModel(model, encoded.ids);
  const T = encoded.ids.length;
  const probabilities = softmax(run.logits);
  const prefix = [];
  for (let r = 0; r < run.prefixLengths.length; r++) {
    prefix.push(softmax(Array.from(run.prefixLogits.subarray(r * run.C, (r + 1) * run.C))));
  }
  return {
    model: model.meta.name, text, tokens: encoded.tokens, ids: encoded.ids, known: encoded.known,
    logits: run.logits, probabilities, predicted: probabilities.indexOf(Math.max(...probabilities)),
    prefixLengths: run.prefixLengths, prefix, coords: project(model.meta, run.states, T, run.DH),
  };
}

/** Queue an update; keystrokes that arrive during a run are merged into the next one. */
function schedule(startedAt) {
  const text = $("text").value;
  state.queued = { text, startedAt: state.queued ? state.queued.startedAt : startedAt };
  if (!state.running) void drain();
}

async function drain() {
  state.running = true;
  try {
    while (state.queued) {
      const job = state.queued;
      state.queued = null;
      const result = await analyze(job.text);
      const analyzed = performance.now();
      const trajectoryDrawn = await draw(result);
      await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0))); // painted
      const timing = {
        model: state.model.meta.name, words: result ? result.tokens.length : 0,
        model_ms: analyzed - job.startedAt, trajectory_ms: trajectoryDrawn - job.startedAt, total_ms: performance.now() - job.startedAt,
      };
      api.last = result;
      api.timings.push(timing);
      $("timing").textContent = t("widget.timing", { ms: Math.round(timing.total_ms) });
      state.text = job.text;
      updateUrl();
    }
  } catch (err) {
    showError("the model", err);
  } finally {
    state.running = false;
  }
}

function linkParams() {
  const params = new URLSearchParams();
  params.set("model", state.modelName);
  params.set("lang", state.lang);
  if (state.text) params.set("text", state.text);
  return params;
}

function updateUrl() {
  const url = `${location.pathname}?${linkParams()}`;
  $("permalink").href = url;
  clearTimeout(state.urlTimer);
  state.urlTimer = setTimeout(() => history.replaceState(null, "", url), URL_DELAY_MS);
}

function showError(what, err) {
  const status = $("status");
  status.textContent = t("widget.load_error", { what, error: err?.message ?? String(err) });
  status.classList.add("error");
  console.error(err);
}

// ------------------------------------------------------------------ start

async function selectModel(name) {
  $("status").textContent = t("widget.loading");
  $("status").classList.remove("error");
  state.model = await loadModel(name);
  state.modelName = name;
  $("model").value = name;
  describeModel();
  $("status").textContent = "";
}

function pickLanguage(params) {
  const langs = state.site.languages;
  const asked = params.get("lang");
  if (asked && langs.includes(asked)) return asked;
  for (const tag of navigator.languages || [navigator.language]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (langs.includes(base)) return base;
  }
  return "en";
}

async function start() {
  const params = new URLSearchParams(location.search);
  state.casing = fetchJson("lowercase.json", "the tokenizer's tables").then(casingTables); // a promise
  const site = await fetchJson("site.json", "the widget's manifest");
  mark("manifest");
  state.site = site;
  const names = site.models.map((m) => m.name);
  if (!names.length) throw new Error(t("widget.no_models"));
  const asked = params.get("model");
  state.modelName = asked && names.includes(asked) ? asked : site.default_model;
  const lang = pickLanguage(params);
  const modelPromise = loadModel(state.modelName); // in parallel with the translations
  await Promise.all([loadLocale(lang), modelPromise]);
  mark("model_loaded");
  applyStrings();
  await selectModel(state.modelName);
  const text = params.get("text") ?? site.examples[0] ?? "";
  $("text").value = text.slice(0, 2000);
  $("text").addEventListener("input", (event) => schedule(event.timeStamp));
  $("model").addEventListener("change", async (event) => {
    const started = event.timeStamp;
    try {
      await selectModel(event.target.value);
      schedule(started);
    } catch (err) {
      showError(event.target.value, err);
    }
  });
  $("lang").addEventListener("change", async (event) => {
    try {
      await loadLocale(event.target.value);
      applyStrings();
      describeModel();
      schedule(event.timeStamp);
    } catch (err) {
      showError(event.target.value, err);
    }
  });
  let resizeFrame = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(() => {
      if (state.geometry && $("trajectory").clientWidth !== state.geometry.width) schedule(performance.now());
    });
  });
  schedule(performance.now());
  while (state.running || state.queued) await new Promise((resolve) => setTimeout(resolve, 5));
  mark("first_drawn");
  $("widget").setAttribute("aria-busy", "false");
  reportHeight();
}

// Inside an <iframe> (see embed.js), tell the embedding page how tall the widget is.
function reportHeight() {
  if (window.parent === window) return;
  const send = () => window.parent.postMessage(
    { type: "rnn-demo-widget:height", height: document.documentElement.scrollHeight }, "*");
  new ResizeObserver(send).observe(document.body);
  send();
}

// The runtime's start-up occupies the main thread for a while (~0.7 s measured on a loaded 2-core
// VM), during which no script continuation runs; so the first model's downloads are started
// before it, from ?model= or the build's default, and proceed meanwhile.
const firstModel = new URLSearchParams(location.search).get("model") ||
  document.querySelector('meta[name="rnn-demo-default-model"]')?.content;
if (firstModel && /^[A-Za-z0-9._-]+$/.test(firstModel)) prefetchModel(firstModel);
warmUpRuntime();

api.ready = start().catch((err) => {
  showError("the widget", err);
  throw err;
});
