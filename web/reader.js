// Drawing a recurrent network's reading, shared by the page's Read tab (page/static/reader_page.js)
// and the in-browser widget (widget.js): the trajectory of the hidden state over a reference cloud,
// the prediction after each word, the step marker, and the cell's units as heatmaps and a column.
//
// Pure builders: each takes plain numbers and returns Plotly data/layout (or fills a DOM node);
// the callers own Plotly and the elements. `text` is the caller's wording:
//   { start, end, average, word, probability, forward, backward, axis(n, percent) }
//
// The trajectory is two stacked plots of identical size, margins, domains and ranges:
//   bottom  the reference cloud, axes, titles   redrawn only when the model, width or ranges change
//   top     the paths and the step marker        redrawn on every Read or step (a few dozen points)
// Margins are fixed (no automargin, legend in HTML), so both map data to the same pixels.

export const PALETTE = ["#0072B2", "#009E73", "#E69F00", "#CC79A7"]; // Okabe–Ito, colour-blind safe, per class
// Headline paths: dark, saturated, unlike any class colour and unlike each other; the first is the stepper's.
export const PATH_COLOURS = ["#1d2330", "#D55E00", "#5D3A9B", "#8B0000", "#4D4D4D", "#000080", "#7A5230", "#556B2F"];
export const MARKER_COLOUR = "#C2185B"; // the stepper's word: a ring no path or class uses
// A second cue besides colour, per class (as the server's figures): the faint cloud stays readable
// under colour-blindness and in print.
export const CLASS_SYMBOLS = ["circle", "square", "diamond", "triangle-up"];
export const PLOT_CONFIG = { displayModeBar: false, responsive: false, scrollZoom: false };
export const NARROW_PX = 640; // below this width the two reading directions stack

export function extent(values, pad = 0.08) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (!Number.isFinite(lo)) return [-1, 1];
  const margin = pad * (hi - lo || 1);
  return [lo - margin, hi + margin];
}

/** Words typed by a user, for Plotly text (which reads a subset of HTML): shown as typed. */
export const esc = (word) => String(word).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const inside = (range, values) => values.every((v) => v >= range[0] && v <= range[1]);

export function axisTitle(direction, k, text) {
  const ratio = direction.explained_variance_ratio?.[k];
  return ratio === undefined ? `PC${k + 1}` : text.axis(k + 1, Math.round(100 * ratio));
}

/**
 * Where everything goes. cloud: {directions: [{cloud: [[x, y, z]...], explained_variance_ratio}], labels};
 * paths: [{name, tokens, coords: [per direction [[x, y, z] per word, in token order]]}]. The backward
 * direction reads right to left, so its path is drawn in its own reading order.
 * Axes stay still while every path stays inside the previous ranges (same key); they grow otherwise.
 */
export function trajectoryGeometry({ cloud, paths, width, previous = null, key = "", ranges: fixed = null }) {
  const D = cloud.directions.length;
  const narrow = width < NARROW_PX;
  const drawn = paths.map((path) => ({
    name: path.name,
    steps: path.tokens.length,
    dirs: cloud.directions.map((_, d) => {
      let coords = path.coords[d] || [];
      let words = path.tokens.map(esc);
      if (d === 1) { coords = [...coords].reverse(); words = [...words].reverse(); }
      return { xs: coords.map((p) => p[0]), ys: coords.map((p) => p[1]), words };
    }),
  }));
  const ranges = fixed || cloud.directions.map((dir, d) => {
    const xs = drawn.flatMap((p) => p.dirs[d].xs);
    const ys = drawn.flatMap((p) => p.dirs[d].ys);
    const old = previous && previous.key === key && previous.D === D ? previous.ranges[d] : null;
    if (old && inside(old.x, xs) && inside(old.y, ys)) return old;
    return { x: extent(dir.cloud.map((p) => p[0]).concat(xs)), y: extent(dir.cloud.map((p) => p[1]).concat(ys)) };
  });
  return { key, D, width, narrow, paths: drawn, ranges, turned: Boolean(fixed) };
}

export function trajectoryHeight(geo) {
  return geo.D > 1 && geo.narrow ? 620 : geo.narrow ? 340 : 400;
}

export function trajectoryLayout(cloud, geo, withAxes, text) {
  const D = geo.D;
  const layout = {
    width: geo.width, height: trajectoryHeight(geo), autosize: false,
    margin: { l: 52, r: 10, t: D > 1 ? 30 : 10, b: 54, pad: 0 }, showlegend: false, hovermode: "closest",
    dragmode: false, font: { size: 12 }, annotations: [],
    paper_bgcolor: withAxes ? "#fff" : "rgba(0,0,0,0)", plot_bgcolor: withAxes ? "#fbfcfd" : "rgba(0,0,0,0)",
  };
  for (let d = 0; d < D; d++) {
    const suffix = d === 0 ? "" : String(d + 1);
    const dir = cloud.directions[d];
    const xDomain = D === 1 || geo.narrow ? [0, 1] : d === 0 ? [0, 0.46] : [0.54, 1];
    const yDomain = D === 1 || !geo.narrow ? [0, 1] : d === 0 ? [0.56, 1] : [0, 0.44];
    // a turned 3-D view has no meaningful x/y axes: its own arrows (axisTraces) name PC1-PC3
    const common = { fixedrange: true, zeroline: false, automargin: false, visible: withAxes && !geo.turned };
    layout[`xaxis${suffix}`] = { ...common, domain: xDomain, anchor: `y${suffix}`, range: geo.ranges[d].x,
                                 title: { text: axisTitle(dir, 0, text), standoff: 12 } };
    layout[`yaxis${suffix}`] = { ...common, domain: yDomain, anchor: `x${suffix}`, range: geo.ranges[d].y,
                                 title: { text: axisTitle(dir, 1, text), standoff: 4 } };
    if (D > 1 && withAxes) {
      layout.annotations.push({
        text: d === 0 ? text.forward : text.backward, showarrow: false, xref: "paper", yref: "paper",
        x: (xDomain[0] + xDomain[1]) / 2, y: yDomain[1], yanchor: "bottom", xanchor: "center", font: { size: 13 },
      });
    }
  }
  return layout;
}

export function cloudTraces(cloud, D, sized = false) {
  const data = [];
  for (let d = 0; d < D; d++) {
    const suffix = d === 0 ? "" : String(d + 1);
    const dir = cloud.directions[d];
    PALETTE.forEach((colour, c) => {
      const pts = dir.cloud.filter((_, i) => cloud.labels[i] === c);
      const xs = pts.map((p) => p[0]);
      const ys = pts.map((p) => p[1]);
      data.push({ type: "scatter", mode: "markers", x: xs, y: ys, xaxis: `x${suffix}`, yaxis: `y${suffix}`,
                  hoverinfo: "skip", marker: { color: colour, size: sized ? depthSizes(pts) : 5, opacity: 0.35,
                                               symbol: CLASS_SYMBOLS[c] } });
    });
  }
  return data;
}

/**
 * The reference cloud painted on a canvas laid over the axes of `gd` (a plot drawn with
 * trajectoryLayout and no cloud traces): a thousand SVG points per panel cost the first Read a few
 * hundred milliseconds; a canvas costs a few. Same colours, shapes and transparency as cloudTraces;
 * `sized`: points nearer the viewer larger (the turned 3-D view).
 */
export function paintCloud(canvas, gd, cloud, D, sized = false) {
  const fl = gd && gd._fullLayout;
  if (!fl) return;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(fl.width * dpr);
  canvas.height = Math.round(fl.height * dpr);
  canvas.style.width = `${fl.width}px`;
  canvas.style.height = `${fl.height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, fl.width, fl.height);
  ctx.globalAlpha = 0.35;
  for (let d = 0; d < D; d++) {
    const xa = fl[d === 0 ? "xaxis" : `xaxis${d + 1}`];
    const ya = fl[d === 0 ? "yaxis" : `yaxis${d + 1}`];
    if (!xa || !ya || !xa.l2p) continue;
    ctx.save();
    ctx.beginPath();
    ctx.rect(xa._offset, ya._offset, xa._length, ya._length);
    ctx.clip();
    const points = cloud.directions[d].cloud;
    const sizes = sized ? depthSizes(points) : null;
    points.forEach((p, i) => {
      const c = cloud.labels[i] % PALETTE.length;
      const x = xa._offset + xa.l2p(p[0]);
      const y = ya._offset + ya.l2p(p[1]);
      const r = (sizes ? sizes[i] : 5) / 2;
      ctx.fillStyle = PALETTE[c];
      ctx.beginPath();
      if (c === 0) ctx.arc(x, y, r, 0, 2 * Math.PI);
      else if (c === 1) ctx.rect(x - r * 0.9, y - r * 0.9, 1.8 * r, 1.8 * r);
      else if (c === 2) { ctx.moveTo(x, y - 1.3 * r); ctx.lineTo(x + 1.3 * r, y); ctx.lineTo(x, y + 1.3 * r); ctx.lineTo(x - 1.3 * r, y); }
      else { ctx.moveTo(x, y - 1.2 * r); ctx.lineTo(x + 1.1 * r, y + 0.8 * r); ctx.lineTo(x - 1.1 * r, y + 0.8 * r); }
      ctx.fill();
    });
    ctx.restore();
  }
}

/** One empty trace per panel: Plotly lays out only the axes some trace uses (paintCloud needs them). */
export function panelTraces(D) {
  return Array.from({ length: D }, (_, d) => ({ type: "scatter", mode: "markers", x: [], y: [], hoverinfo: "skip",
                                                 xaxis: `x${d === 0 ? "" : d + 1}`, yaxis: `y${d === 0 ? "" : d + 1}` }));
}

const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;

/** Every path: a line with a dot per word, ○ at its first word and ★ at its last (per reading direction). */
export function pathTraces(geo, { meanPooling = false, text }) {
  const data = [];
  geo.paths.forEach((path, p) => {
    const colour = PATH_COLOURS[p % PATH_COLOURS.length];
    const main = p === 0;
    path.dirs.forEach(({ xs, ys, words }, d) => {
      const axes = { xaxis: `x${d === 0 ? "" : d + 1}`, yaxis: `y${d === 0 ? "" : d + 1}` };
      data.push({
        type: "scatter", mode: "lines+markers", x: xs, y: ys, text: words, ...axes, name: path.name,
        line: { color: colour, width: main ? 2.5 : 1.5, dash: main ? "solid" : "dot" },
        marker: { color: colour, size: main ? 6 : 4 }, hovertemplate: "%{text}<extra></extra>",
      });
      if (!xs.length) return;
      const last = xs.length - 1;
      data.push({
        type: "scatter", mode: main ? "markers+text" : "markers", x: [xs[0], xs[last]], y: [ys[0], ys[last]], ...axes,
        hoverinfo: "skip", text: [text.start, text.end], textposition: "top center", textfont: { size: 11 },
        marker: { color: ["#fff", colour], size: main ? [11, 15] : [8, 11], symbol: ["circle", "star"],
                  line: { color: colour, width: 2 } },
      });
      if (meanPooling && main) {
        // Mean-pooling models answer from the average state. The projection is affine, so the
        // average of the projected points is the projected average.
        data.push({
          type: "scatter", mode: "markers+text", x: [mean(xs)], y: [mean(ys)], ...axes, hoverinfo: "skip",
          text: [text.average], textposition: "bottom center", textfont: { size: 11 },
          marker: { color: colour, size: 13, symbol: "x-thin", line: { color: colour, width: 3 } },
        });
      }
    });
  });
  return data;
}

// ---------------------------------------------------------------- 3-D: a turnable projection

/** A view of the 3-D coordinates: turned by `yaw` around the vertical axis, tilted by `pitch`. */
export function turn([x, y, z], { yaw, pitch }) {
  const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
  const x1 = cy * x + sy * z;
  const z1 = -sy * x + cy * z;
  return [x1, cp * y - sp * z1, sp * y + cp * z1]; // screen x, screen y, depth (towards the viewer)
}

/**
 * The 3-D view drawn with the same two layers as the 2-D one: the cloud and paths turned by `view`
 * (drag to turn), axes PC1-PC3 drawn as arrows from the cloud's centre, points nearer the viewer
 * larger. Returns {cloud, paths, axes} in the shapes trajectoryGeometry / cloudTraces expect, with
 * ranges fixed per direction so the picture stays put while it turns.
 */
export function turned(cloud, paths, view) {
  const centres = cloud.directions.map((dir) => [0, 1, 2].map((k) => dir.cloud.reduce((a, p) => a + p[k], 0) / (dir.cloud.length || 1)));
  const radius = cloud.directions.map((dir, d) => {
    let r = 0;
    const all = dir.cloud.concat(...paths.map((q) => q.coords[d] || []));
    for (const p of all) r = Math.max(r, Math.hypot(p[0] - centres[d][0], p[1] - centres[d][1], p[2] - centres[d][2]));
    return r || 1;
  });
  const at = (p, d) => turn([p[0] - centres[d][0], p[1] - centres[d][1], p[2] - centres[d][2]], view);
  const turnedCloud = {
    labels: cloud.labels,
    directions: cloud.directions.map((dir, d) => ({ ...dir, cloud: dir.cloud.map((p) => at(p, d)) })),
  };
  const turnedPaths = paths.map((path) => ({ ...path, coords: path.coords.map((cs, d) => cs.map((p) => at(p, d))) }));
  const axes = cloud.directions.map((_, d) => [0, 1, 2].map((k) => {
    const tip = [0, 0, 0];
    tip[k] = 0.8 * radius[d];
    return turn(tip, view);
  }));
  const ranges = radius.map((r) => ({ x: [-1.08 * r, 1.08 * r], y: [-1.08 * r, 1.08 * r] }));
  return { cloud: turnedCloud, paths: turnedPaths, axes, ranges };
}

/** The three axis arrows of a turned view, one set per direction, titled like the 2-D axes. */
export function axisTraces(cloud, axes, text) {
  const data = [];
  axes.forEach((tips, d) => {
    const suffix = d === 0 ? "" : String(d + 1);
    tips.forEach((tip, k) => {
      data.push({ type: "scatter", mode: "lines+text", x: [0, tip[0]], y: [0, tip[1]], xaxis: `x${suffix}`,
                  yaxis: `y${suffix}`, hoverinfo: "skip", line: { color: "#555", width: 1.5 },
                  text: ["", axisTitle(cloud.directions[d], k, text)], textposition: "top center",
                  textfont: { size: 11, color: "#333" } });
    });
  });
  return data;
}

/** Cloud points of a turned view: nearer the viewer larger (depth is the third coordinate). */
export function depthSizes(points) {
  let lo = Infinity, hi = -Infinity;
  for (const p of points) { if (p[2] < lo) lo = p[2]; if (p[2] > hi) hi = p[2]; }
  return points.map((p) => 3 + 4 * ((p[2] - lo) / (hi - lo || 1)));
}

// ---------------------------------------------------------------- step marks over drawn plots

/** Pixel position of data (x, y) on a drawn plot's axes (Plotly's own axis mapping). */
export function toPixels(gd, x, y, d = 0) {
  const fl = gd && gd._fullLayout;
  const xa = fl && fl[d === 0 ? "xaxis" : `xaxis${d + 1}`];
  const ya = fl && fl[d === 0 ? "yaxis" : `yaxis${d + 1}`];
  if (!xa || !ya || x === undefined || y === undefined) return null;
  return [xa._offset + xa.l2p(x), ya._offset + ya.l2p(y)];
}

/** Rings over the trajectory at the stepper's word (one per reading direction), as HTML over the
 * plot: moving them costs no Plotly redraw. `box` is the layers' container, `gd` the cloud plot. */
export function placeRings(box, gd, geo, step) {
  const path = geo && geo.paths[0];
  const rings = path ? path.dirs.map(({ xs, ys, words }, d) => {
    const i = d === 1 ? xs.length - 1 - step : step;
    return { at: toPixels(gd, xs[i], ys[i], d), word: words[i] };
  }) : [];
  let nodes = box.querySelectorAll(".step-ring");
  while (nodes.length < rings.length) {
    const ring = document.createElement("div");
    ring.className = "step-ring";
    ring.append(document.createElement("span"));
    box.append(ring);
    nodes = box.querySelectorAll(".step-ring");
  }
  nodes.forEach((node, d) => {
    const ring = rings[d];
    node.hidden = !ring || !ring.at;
    if (node.hidden) return;
    node.style.transform = `translate(${ring.at[0].toFixed(1)}px, ${ring.at[1].toFixed(1)}px)`;
    node.dataset.word = ring.word;
    node.firstChild.innerHTML = ring.word; // already escaped (esc) for Plotly: the same text as HTML
  });
}

/** A band over word column `x` (data units) of a drawn plot, across its whole plotting area. */
export function placeBand(band, gd, x) {
  const fl = gd && gd._fullLayout;
  const xa = fl && fl.xaxis;
  if (!xa || x === null || x === undefined) { band.hidden = true; return; }
  const left = xa._offset + xa.l2p(x - 0.5);
  const width = xa.l2p(x + 0.5) - xa.l2p(x - 0.5);
  band.hidden = false;
  band.style.left = `${left.toFixed(1)}px`;
  band.style.width = `${Math.max(2, width).toFixed(1)}px`;
  band.style.top = `${fl._size.t}px`;
  band.style.height = `${fl._size.h}px`;
  band.dataset.x = String(x);
}

/** The prediction after each word: one line per class; positions are 1-based word counts. */
export function prefixFigure({ positions, labels, prefix, classNames, text, width }) {
  const data = classNames.map((name, c) => ({
    type: "scatter", mode: "lines+markers", x: positions, y: prefix.map((p) => p[c]), name,
    line: { color: PALETTE[c % PALETTE.length], width: 2 }, marker: { size: 5 }, customdata: labels.map(esc),
    hovertemplate: `${name} %{y:.1%} · %{customdata}<extra></extra>`,
  }));
  const layout = {
    height: 300, margin: { l: 64, r: 12, t: 30, b: 90 }, font: { size: 12 },
    xaxis: { tickmode: "array", tickvals: positions, ticktext: thinLabels(labels.map(esc), width),
             tickangle: positions.length > 8 ? -45 : 0, title: { text: text.word }, automargin: false, fixedrange: true },
    yaxis: { range: [0, 1.02], tickformat: ".0%", title: { text: text.probability }, fixedrange: true },
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" }, showlegend: true, dragmode: false,
    paper_bgcolor: "#fff", plot_bgcolor: "#fbfcfd",
  };
  if (width) layout.width = width;
  return { data, layout };
}

/** Word labels on an axis: every k-th one once they would overlap (~14 px a label at -45°). */
function thinLabels(labels, width) {
  const room = Math.max(1, Math.floor((width || 600) / (width < 500 ? 26 : 16)));
  const every = Math.ceil(labels.length / room);
  const cut = (w) => (w.length > 12 ? `${w.slice(0, 11)}…` : w);
  return labels.map((w, i) => (i % every === 0 ? cut(w) : ""));
}

// ---------------------------------------------------------------- the cell: heatmaps and one column

/** Colour of a value: signed ranges blue–white–red, [0, 1] ranges dark blue → yellow (as the heatmaps). */
export function valueColour(v, range) {
  const [lo, hi] = range;
  if (lo < 0) {
    const x = Math.max(-1, Math.min(1, v / hi));
    const a = Math.abs(x);
    const [r, g, b] = x >= 0 ? [202, 0, 32] : [5, 113, 176];
    return `rgb(${Math.round(255 + (r - 255) * a)},${Math.round(255 + (g - 255) * a)},${Math.round(255 + (b - 255) * a)})`;
  }
  const x = Math.max(0, Math.min(1, (v - lo) / (hi - lo || 1)));
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]]; // viridis
  const at = x * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(at));
  const f = at - i;
  const c = stops[i].map((s, k) => Math.round(s + (stops[i + 1][k] - s) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

const SIGNED_SCALE = [[0, "rgb(5,113,176)"], [0.5, "rgb(255,255,255)"], [1, "rgb(202,0,32)"]];

/** Heatmaps, one per panel (units × words), stacked; the step band is drawn over all of them. */
export function cellsFigure(cells, tokens, { width }) {
  const panels = cells.panels;
  const units = cells.units;
  const rowPx = Math.max(2, Math.min(4, Math.floor(240 / units)));
  const panelPx = units * rowPx;
  const gap = 34;
  const top = 8;
  const height = top + panels.length * (panelPx + gap) + 70;
  const data = [];
  const layout = { height, margin: { l: 44, r: 12, t: top, b: 70 }, font: { size: 12 }, dragmode: false,
                   paper_bgcolor: "#fff", plot_bgcolor: "#fff", annotations: [], showlegend: false };
  if (width) layout.width = width;
  const xs = tokens.map((_, i) => i);
  const plotH = height - top - 70;
  panels.forEach((panel, k) => {
    const n = k === 0 ? "" : String(k + 1);
    const y1 = 1 - (k * (panelPx + gap) + gap - 8) / plotH;
    const y0 = y1 - panelPx / plotH;
    const signed = panel.range[0] < 0;
    // values arrive (T, H); a heatmap row is a unit
    const z = Array.from({ length: units }, (_, u) => panel.values.map((row) => row[u]));
    data.push({ type: "heatmap", z, x: xs, y: Array.from({ length: units }, (_, u) => u + 1), xaxis: `x${n}`, yaxis: `y${n}`,
                zmin: panel.range[0], zmax: panel.range[1], showscale: false,
                colorscale: signed ? SIGNED_SCALE : "Viridis", customdata: Array.from({ length: units }, () => tokens.map(esc)),
                hovertemplate: `${panel.label}<br>%{customdata} · unit %{y}: %{z:.2f}<extra></extra>` });
    layout[`yaxis${n}`] = { domain: [Math.max(0, y0), Math.min(1, y1)], anchor: `x${n}`, fixedrange: true,
                            showticklabels: false, title: { text: "" }, autorange: "reversed" };
    layout[`xaxis${n}`] = { anchor: `y${n}`, fixedrange: true, matches: k ? "x" : undefined,
                            showticklabels: k === panels.length - 1, tickmode: "array", tickvals: xs,
                            ticktext: thinLabels(tokens.map(esc), width), tickangle: tokens.length > 8 ? -45 : 0 };
    layout.annotations.push({ text: panel.label, xref: "paper", yref: "paper", x: 0, y: Math.min(1, y1), xanchor: "left",
                              yanchor: "bottom", showarrow: false, font: { size: 12 } });
  });
  return { data, layout };
}

/** The units that changed most at `step` (signed change of `values` from the word before). */
export function changedUnits(values, step, count = 3) {
  const now = values[step];
  const before = step > 0 ? values[step - 1] : now.map(() => 0);
  return now.map((v, u) => ({ unit: u, change: v - before[u] }))
    .sort((a, b) => Math.abs(b.change) - Math.abs(a.change)).slice(0, count);
}

/** One word's column of the cell: a row of squares per panel (each unit its value's colour). The
 * squares are made once per shape and recoloured on every step. */
export function renderColumn(node, cells, step, { memoryUnit = null, changed = [], memoryLabel = "" }) {
  const shape = `${cells.panels.map((p) => p.key).join(",")}/${cells.units}`;
  if (node.dataset.shape !== shape) {
    node.replaceChildren(...cells.panels.map((panel) => {
      const row = document.createElement("div");
      row.className = "col-row";
      const name = document.createElement("span");
      name.className = "col-name";
      const strip = document.createElement("span");
      strip.className = "col-strip";
      strip.style.gridTemplateColumns = `repeat(${cells.units}, 1fr)`;
      for (let u = 0; u < cells.units; u++) strip.append(document.createElement("i"));
      row.append(name, strip);
      return row;
    }));
    node.dataset.shape = shape;
  }
  node.querySelectorAll(".col-row").forEach((row, k) => {
    const panel = cells.panels[k];
    row.firstChild.textContent = panel.label;
    const values = panel.values[step];
    row.lastChild.childNodes.forEach((sq, u) => {
      const v = values[u];
      sq.style.background = valueColour(v, panel.range);
      sq.title = `${panel.label} · unit ${u + 1}: ${v.toFixed(2)}${u === memoryUnit ? ` (${memoryLabel})` : ""}`;
      sq.className = (u === memoryUnit ? "memory" : "") + (changed.includes(u) ? " changed" : "");
    });
  });
}

/** Class bars (HTML): one row per class in its colour, the percentage written. */
export function renderBars(node, probabilities, classNames) {
  let rows = node.querySelectorAll(".bar-row");
  if (rows.length !== classNames.length) {
    node.replaceChildren(...classNames.map((name, c) => {
      const row = document.createElement("div");
      row.className = "bar-row";
      const label = document.createElement("span");
      label.className = "name";
      label.textContent = name;
      const track = document.createElement("span");
      track.className = "bar";
      const fill = document.createElement("span");
      fill.style.background = PALETTE[c % PALETTE.length];
      track.append(fill);
      const pct = document.createElement("span");
      pct.className = "pct";
      row.append(label, track, pct);
      return row;
    }));
    rows = node.querySelectorAll(".bar-row");
  }
  const best = probabilities.indexOf(Math.max(...probabilities));
  rows.forEach((row, c) => {
    const p = probabilities[c];
    row.children[0].textContent = classNames[c];
    row.children[0].classList.toggle("best", c === best);
    row.children[1].firstChild.style.width = `${(100 * p).toFixed(1)}%`;
    row.children[1].setAttribute("role", "img");
    row.children[1].setAttribute("aria-label", `${classNames[c]} ${(100 * p).toFixed(1)}%`);
    row.children[2].textContent = `${(100 * p).toFixed(1)}%`;
  });
}
