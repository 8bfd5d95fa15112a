"""The app's logic as pure functions: headlines text -> dicts, tables and Plotly figures.

`Registry` loads every shipped checkpoint once (model, vocabulary, stored projection, predictor);
the functions below take a registry and plain inputs, so the Gradio wiring in `app.py` stays
thin and everything here can be tested without a server.

Backends: class probabilities come from `TorchPredictor`, or from onnxruntime
(`export.runtime.OnnxPredictor`) when RNN_DEMO_BACKEND=onnx. The inspection views (states,
gates, prefixes, importance, padding drift) always use the PyTorch model.
"""
from __future__ import annotations

import html
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import cards
from . import inspect as ins
from . import lesson_views
from . import plots
from . import i18n
from .i18n import class_label
from .page import lesson_order
from .checkpoint import Checkpoint, CheckpointError, discover_checkpoints, load_checkpoint
from .lessons import load_lessons
from .predict import Predictor, TorchPredictor
from .projection import Projection, fit_fallback, load_projection

MAX_HEADLINES = 32
MAX_CHARS = 2000
MAX_PATHS = 8  # trajectories drawn in the main plot (one colour each)
COMPARE_PATHS = 4  # trajectories per small multiple
MAX_PADS = 40  # "why packing matters": k = 0 .. MAX_PADS
PACKING_PAIR = ("lesson-lstm", "lesson-lstm-packed")
BACKEND_ENV = "RNN_DEMO_BACKEND"
ONNX_DIR_ENV = "RNN_DEMO_ONNX_DIR"

# Written for this project (not AG News rows): one or two per class, a few deliberately hard.
EXAMPLES = [
    "Central bank raises interest rates as inflation climbs to a ten-year high",
    "Striker scores twice in stoppage time to keep title hopes alive",
    "Researchers unveil a chip that trains neural networks with a fraction of the power",
    "Peace talks resume in Geneva after weeks of border clashes",
    "Chipmaker shares tumble after weak quarterly forecast",
    "Space agency delays rocket launch after a sensor fault",
    "Olympic champion announces retirement at 31",
    "Floods force thousands to flee their homes in the north",
    "Apple and Microsoft report record profits",
    "Quantum startup raises 50 million dollars from investors",
]
MULTI_EXAMPLE = "\n".join(EXAMPLES[:4])
# "Why packing matters" opens on a headline (written for this demo, not from any data set) on which the
# retrained lesson-lstm's answer visibly moves with padding: Sports at k = 0, Business from k = 1 on.
PACKING_EXAMPLE = "Stadium deal lifts the builder's shares"



class InputError(ValueError):
    """Input the app cannot analyse (e.g. empty); the message is meant for the user."""


class UnknownModelError(ValueError):
    """A model name that is not among the loaded checkpoints; the message lists the valid ones."""


@dataclass
class ModelEntry:
    """One loaded checkpoint with what the app needs to serve it."""

    ckpt: Checkpoint
    predictor: Predictor
    projection: Projection | None  # None for the bag of embeddings (no hidden state to project)
    projection_note: str = ""  # non-empty when the shipped projection is missing or stale

    @property
    def name(self) -> str:
        return self.ckpt.name

    @property
    def gated(self) -> bool:
        return self.ckpt.config.cell in ("lstm", "gru")


def _make_predictor(ckpt: Checkpoint, backend: str) -> Predictor:
    if backend == "torch":
        return TorchPredictor(ckpt)
    if backend != "onnx":
        raise ValueError(f"{BACKEND_ENV}={backend!r}: allowed values are 'torch' and 'onnx'")
    onnx_path = Path(os.environ.get(ONNX_DIR_ENV, "exports")) / f"{ckpt.name}.onnx"
    if not onnx_path.is_file():
        raise FileNotFoundError(f"{onnx_path} not found: {BACKEND_ENV}=onnx needs the exported models; "
                                "build them with `python -m export --all`")
    from export.runtime import OnnxPredictor  # lazy: onnxruntime is only needed for this backend

    return OnnxPredictor(onnx_path, ckpt.path, device="cpu", threads=1)


def _shown_path(path: str | Path) -> str:
    """A path as a user would type it: relative to the working directory when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


TRACE_CACHE_ENV = "RNN_DEMO_TRACE_CACHE_MB"
TRACE_CACHE_DEFAULT_MB = 32


def _trace_cache_bytes() -> int:
    raw = os.environ.get(TRACE_CACHE_ENV, str(TRACE_CACHE_DEFAULT_MB)).strip()
    try:
        mb = float(raw)
    except ValueError:
        raise ValueError(f"{TRACE_CACHE_ENV}={raw!r}: expected a number of megabytes (0 turns the cache off)") from None
    if not 0 <= mb <= 4096:
        raise ValueError(f"{TRACE_CACHE_ENV}={raw!r}: expected 0..4096 megabytes")
    return int(mb * 2**20)


def trace_nbytes(tr: ins.Trace) -> int:
    """Approximate memory held by a Trace: its arrays plus ~64 bytes per token for the Python lists."""
    arrays = [tr.states, tr.pooled, tr.probabilities]
    for c in tr.cells:
        arrays += [c.hidden, *c.gates.values()] + ([c.cell] if c.cell is not None else [])
    return sum(a.nbytes for a in arrays) + 64 * len(tr.tokens) + sum(len(t) for t in tr.tokens)


class TraceCache:
    """A thread-safe LRU bounded by bytes, not entries (Gradio runs handlers in worker threads)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._items: OrderedDict = OrderedDict()  # key -> (value, size); oldest first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key, value, size: int) -> None:
        if size > self.max_bytes:  # also covers max_bytes == 0: caching off
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.nbytes -= old[1]
            self._items[key] = (value, size)
            self.nbytes += size
            while self.nbytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self.nbytes -= dropped


class Registry:
    """Every checkpoint under `root`, loaded once; unreadable folders are listed in `problems`."""

    def __init__(self, root: str | Path = "checkpoints", backend: str | None = None) -> None:
        self.root = Path(root)
        self.backend = (backend or os.environ.get(BACKEND_ENV, "torch")).strip().lower() or "torch"
        self.entries: dict[str, ModelEntry] = {}
        self.problems: list[str] = []
        for folder in discover_checkpoints(self.root):
            # One damaged folder must not stop the app: any error while loading it (CheckpointError
            # names the file; safetensors, JSON, lesson data or memory errors from other loaders may
            # not) leaves that model out, and the message is shown on the page and logged.
            try:
                ckpt, projection, note = self._load_folder(folder)
            except CheckpointError as exc:
                self.problems.append(str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - any loader failure is this folder's problem
                self.problems.append(f"{_shown_path(folder)}: {type(exc).__name__}: {exc}")
                continue
            # outside the try: a wrong backend setting or missing exports is the whole app's
            # configuration error, not one damaged checkpoint, and must stop the start
            self.entries[ckpt.name] = ModelEntry(ckpt, _make_predictor(ckpt, self.backend), projection, note)
        if not self.entries:
            raise CheckpointError(f"{self.root}: no loadable checkpoints" +
                                  (f" ({'; '.join(self.problems)})" if self.problems else ""))
        self._traces = TraceCache(_trace_cache_bytes())

    def _load_folder(self, folder: Path) -> tuple[Checkpoint, Projection | None, str]:
        """One checkpoint folder -> (checkpoint, projection, note); raises on any damaged file."""
        ckpt = load_checkpoint(folder)
        # lesson data: a damaged lessons.json leaves the model out like any other damaged file
        # (LessonsError names it); a missing or stale one is explained on the page instead
        load_lessons(folder)
        cfg = ckpt.config
        if not cfg.is_recurrent:  # the bag of embeddings has no hidden state: no projection (None)
            return ckpt, None, ""
        projection, note = load_projection(folder, cfg.num_directions, cfg.hidden_size), ""
        if projection is None or not projection.is_current(folder):
            note = ("no stored projection was found" if projection is None else
                    "the stored projection was fitted for older weights")
            note += (f"; paths use a stand-in projection fitted on the example headlines, without the "
                     f"reference cloud. Rebuild with `python -m rnn_demo.projection --checkpoint "
                     f"{_shown_path(folder)}`")
            projection = fit_fallback(ckpt, EXAMPLES)
        return ckpt, projection, note

    @property
    def names(self) -> list[str]:
        return list(self.entries)

    @property
    def class_names(self) -> tuple[str, ...]:
        return next(iter(self.entries.values())).ckpt.class_names

    def get(self, name: str) -> ModelEntry:
        if name not in self.entries:
            raise UnknownModelError(f"unknown model {name!r}; valid models: {', '.join(self.entries)}")
        return self.entries[name]

    def choices(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a dropdown: 'name: one-line description'."""
        return [(f"{n} — {e.ckpt.description}", n) for n, e in self.entries.items()]

    def trace(self, name: str, headline: str) -> ins.Trace:
        """Per-step states of `headline` under model `name`.

        Cached within a byte budget: the page's views (trajectory, internals, redraws when the
        projection or the layer changes) read the same headline several times, and a 200-word
        trace costs 40-60 ms but holds up to ~1 MB, so an entry-count bound would let anyone grow
        the server by sending distinct long texts.
        """
        key = (name, headline)
        tr = self._traces.get(key)
        if tr is None:
            tr = self._trace_uncached(name, headline)
            self._traces.put(key, tr, trace_nbytes(tr) + len(headline) + len(name))
        return tr

    def _trace_uncached(self, name: str, headline: str) -> ins.Trace:
        entry = self.get(name)
        return ins.trace(entry.ckpt.model, entry.ckpt.vocab, headline)


# ---------------------------------------------------------------- input handling

def split_headlines(text: str | None) -> tuple[list[str], list[str]]:
    """One headline per non-empty line, within the limits; returns (headlines, notes for the user)."""
    lines = [line.strip() for line in (text or "").splitlines()]
    lines = [line for line in lines if line]
    notes = []
    if len(lines) > MAX_HEADLINES:
        notes.append(i18n.tr("note.too_many", given=len(lines), kept=MAX_HEADLINES))
        lines = lines[:MAX_HEADLINES]
    for i, line in enumerate(lines):
        if len(line) > MAX_CHARS:
            notes.append(i18n.tr("note.too_long", index=i + 1, chars=f"{len(line):,}", kept=f"{MAX_CHARS:,}"))
            lines[i] = line[:MAX_CHARS]
    return lines, notes


def first_headline(text: str | None) -> tuple[str, list[str]]:
    headlines, notes = split_headlines(text)
    if not headlines:
        raise InputError("Please type a headline (the text is empty).")
    if len(headlines) > 1:
        notes.append(f"{len(headlines)} headlines given; this call analyses the first one.")
    return headlines[0], notes


def vocabulary_notes(entry: ModelEntry, headline: str, index: int = 0) -> list[str]:
    tokens = entry.ckpt.vocab.tokenize(headline)
    if not tokens:
        return [i18n.tr("note.no_words", index=index + 1)]
    if not any(t in entry.ckpt.vocab for t in tokens):
        return [i18n.tr("note.all_unknown", index=index + 1, model=entry.name)]
    if len(tokens) > ins.DEFAULT_MAX_TOKENS:
        return [i18n.tr("note.too_many_words", index=index + 1, words=len(tokens), kept=ins.DEFAULT_MAX_TOKENS)]
    return []


def notes_markdown(notes: list[str]) -> str:
    """User-facing notes as Markdown; texts are escaped so a headline can never inject markup."""
    return "\n".join(f"- {html.escape(n)}" for n in dict.fromkeys(notes))


# ---------------------------------------------------------------- API functions

def predict(reg: Registry, text: str, model: str) -> dict[str, float]:
    """{class: probability} for the first headline of `text`."""
    entry = reg.get(model)
    headline, _ = first_headline(text)
    probs = entry.predictor.predict_proba([headline])[0]
    return {c: float(p) for c, p in zip(entry.ckpt.class_names, probs)}


def _round(x, digits: int = 5):
    return np.round(np.asarray(x, dtype=np.float64), digits).tolist()


def trajectory_coords(entry: ModelEntry, tr: ins.Trace) -> list[dict]:
    """Per direction: the headline's states projected with the stored PCA, in token order."""
    hidden = entry.ckpt.config.hidden_size
    out = []
    for d in range(entry.projection.num_directions):
        part = tr.states[:, d * hidden:(d + 1) * hidden]
        out.append({"direction": ins.DIRECTION_NAMES[d],
                    "coords": entry.projection.project(d, part),
                    "readout": entry.projection.project(d, tr.pooled[d * hidden:(d + 1) * hidden])})
    return out


def analyze(reg: Registry, text: str, model: str) -> dict:
    """Everything the page shows for the first headline, as JSON-ready data."""
    entry = reg.get(model)
    headline, notes = first_headline(text)
    notes += vocabulary_notes(entry, headline)
    tr = reg.trace(model, headline)
    classes = entry.ckpt.class_names
    prefix = ins.prefix_probabilities(entry.ckpt.model, tr.ids)
    importance = ins.occlusion_importance(entry.ckpt.model, tr.ids)
    probs = entry.predictor.predict_proba([headline])[0]
    if entry.projection is None:  # the bag: no hidden state, so no trajectory
        trajectory = None
        notes.append(f"{entry.name} has no hidden state, so there is no trajectory and no memory (both null).")
    else:
        trajectory = {
            "space": f"PCA of the last layer's per-word states ({entry.ckpt.config.hidden_size} units per direction)",
            "stored_projection": not entry.projection_note,
            "explained_variance_ratio": entry.projection.meta.get("explained_variance_ratio"),
            "directions": [{"direction": t["direction"], "coords": _round(t["coords"]),
                            "classifier_input": _round(t["readout"])}
                           for t in trajectory_coords(entry, tr)],
        }
    return {
        "model": entry.name,
        "headline": headline,
        "tokens": tr.tokens,
        "in_vocabulary": tr.known,
        "probabilities": {c: float(p) for c, p in zip(classes, probs)},
        "predicted": classes[int(np.argmax(probs))],
        "per_token_probabilities": [{c: float(p) for c, p in zip(classes, row)} for row in _round(prefix, 6)],
        "importances": [{"token": t, "score": float(s)} for t, s in zip(tr.tokens, _round(importance, 6))],
        "importance_method": "occlusion: drop in the predicted class's probability when the word "
                             "is replaced by the unknown word",
        "trajectory": trajectory,
        # ||d h_T / d x_t|| per token (the memory view); null for the bag of embeddings
        "memory": lesson_views.memory_api(entry, tr.ids),
        "memory_method": "Frobenius norm of the Jacobian of the final hidden state (bidirectional: forward "
                         "after the last word and backward after the first) w.r.t. each word's embedding",
        # the same words reversed and shuffled (seed 0) and what the model answers for them
        "word_order": lesson_views.word_order_api(entry, headline, seed=0),
        "notes": notes + ([entry.projection_note] if entry.projection_note else []),
    }


# ---------------------------------------------------------------- page views

def _axis_labels(proj: Projection, d: int) -> tuple[str, str, str]:
    ratios = proj.meta.get("explained_variance_ratio")
    if not ratios:
        return ("PC1", "PC2", "PC3")
    return tuple(f"PC{i + 1} ({100 * r:.0f}%)" for i, r in enumerate(ratios[d]))  # type: ignore[return-value]


def trajectory_panels(entry: ModelEntry, headlines: list[str], traces: list[ins.Trace],
                      compact: bool = False) -> list[dict]:
    """Panels for `plots.trajectory_figure`: one per direction, paths in reading order."""
    proj = entry.projection
    mean_pool = entry.ckpt.config.pooling == "mean"
    panels = []
    for d in range(proj.num_directions):
        paths = []
        for headline, tr in zip(headlines, traces):
            coords = trajectory_coords(entry, tr)[d]
            xyz, tokens = coords["coords"], list(tr.tokens)
            if d == 1:  # the backward direction reads from the last word to the first
                xyz, tokens = xyz[::-1], tokens[::-1]
            paths.append({"name": headline, "coords": xyz, "tokens": tokens,
                          "readout": coords["readout"] if mean_pool else None})
        direction = i18n.tr(f"plot.{ins.DIRECTION_NAMES[d]}")
        if proj.num_directions == 1:
            title = f"{entry.name}" if compact else i18n.tr("plot.trajectory_panel", model=entry.name)
        else:
            arrow = i18n.tr("plot.left_right" if d == 0 else "plot.right_left")
            title = f"{entry.name} {direction}" if compact else \
                i18n.tr("plot.trajectory_dir", model=entry.name, direction=direction, arrow=arrow)
        panels.append({"title": title, "cloud": proj.clouds[d], "labels": proj.labels, "paths": paths,
                       "axis": _axis_labels(proj, d)})
    return panels


def trajectory_view(reg: Registry, headlines: list[str], model: str, dims: int = 2):
    entry = reg.get(model)
    if entry.projection is None:
        return plots.message_figure(i18n.tr("note.no_trajectory", model=entry.name))
    shown = headlines[:MAX_PATHS]
    traces = [reg.trace(model, h) for h in shown]
    return plots.trajectory_figure(trajectory_panels(entry, shown, traces), entry.ckpt.class_names, dims=dims)


def internals_choices(reg: Registry, model: str) -> list[str]:
    entry = reg.get(model)
    cfg = entry.ckpt.config
    return [f"layer {l + 1} {ins.DIRECTION_NAMES[d]}" for l in range(cfg.num_layers) for d in range(cfg.num_directions)]


def internals_label(choice: str) -> str:
    """'layer 1 forward' (the value) -> its label in the current language."""
    _, layer, direction = choice.split()
    return i18n.tr("plot.layer", layer=layer, direction=i18n.tr(f"plot.{direction}"))


def internals_view(reg: Registry, headline: str, model: str, choice: str | None = None):
    """Heatmaps (units x words) of hidden state, cell state and gates for one layer/direction."""
    entry = reg.get(model)
    if not entry.ckpt.config.is_recurrent:
        return plots.message_figure(i18n.tr("note.no_cells", model=entry.name))
    tr = reg.trace(model, headline)
    choices = internals_choices(reg, model)
    choice = choice if choice in choices else choices[-1 if entry.ckpt.config.num_directions == 1 else
                                                        len(choices) - entry.ckpt.config.num_directions]
    layer_s, direction_s = choice.split()[1], choice.split()[2]
    cell = tr.cell_trace(int(layer_s) - 1, ins.DIRECTION_NAMES.index(direction_s))
    panels = [(i18n.tr("plot.hidden_state"), cell.hidden.T, (-1.0, 1.0))]
    if cell.cell is not None:
        bound = max(1.0, float(np.abs(cell.cell).max()))
        panels.append((i18n.tr("plot.cell_state"), cell.cell.T, (-bound, bound)))
    for name, values in cell.gates.items():
        signed = name in ("cell candidate", "candidate")
        panels.append((i18n.tr("plot.gate_" + name.replace(" ", "_")), values.T, (-1.0, 1.0) if signed else (0.0, 1.0)))
    title = i18n.tr("plot.internals", model=entry.name, choice=internals_label(choice)) + \
        ("" if entry.gated else i18n.tr("plot.no_gates"))
    return plots.internals_figure(tr.tokens, panels, title=title)


def highlighted_importance(tokens: list[str], scores: np.ndarray, known: list[bool]) -> list[tuple[str, float | None]]:
    """(word, score scaled to [-1, 1]) pairs with spaces between words, for gr.HighlightedText."""
    scale = float(np.abs(scores).max()) or 1.0
    out: list[tuple[str, float | None]] = []
    for i, (tok, s, k) in enumerate(zip(tokens, scores, known)):
        if i:
            out.append((" ", None))
        out.append((tok if k else f"{tok} ({i18n.tr('note.unknown_suffix')})", round(float(s) / scale, 4)))
    return out


NON_LATIN = re.compile(r"[^\W\d_A-Za-z\u00C0-\u024F]")  # a letter outside the Latin alphabets


def not_english(headline: str) -> bool:
    """True when most letters are not Latin (Korean, Chinese, Cyrillic, ...): the models read English only."""
    letters = [c for c in headline if c.isalpha()]
    return bool(letters) and sum(bool(NON_LATIN.match(c)) for c in letters) > len(letters) / 2


def headline_table(reg: Registry, entry: ModelEntry, headlines: list[str], probs: np.ndarray) -> pd.DataFrame:
    classes = list(entry.ckpt.class_names)
    rows = []
    for i, (h, p) in enumerate(zip(headlines, probs)):
        tokens = entry.ckpt.vocab.tokenize(h)
        unknown = sum(t not in entry.ckpt.vocab for t in tokens)
        answer = (i18n.tr("note.not_english_label") if not_english(h) else class_label(classes[int(np.argmax(p))]))
        rows.append([i + 1, h, answer, *(round(float(v), 4) for v in p), f"{unknown}/{len(tokens)}"])
    columns = [i18n.tr(k) for k in ("card.col_index", "card.col_headline", "card.col_predicted")]
    return pd.DataFrame(rows, columns=[*columns, *map(class_label, classes), i18n.tr("card.col_unknown")])


@dataclass
class PageResult:
    """Everything the main tab shows, in the order app.py wires the outputs."""

    label: dict | None
    table: pd.DataFrame
    notes: str
    trajectory: object
    prefix: object
    importance: list
    internals: object
    extra: dict = field(default_factory=dict)

    def outputs(self) -> tuple:
        return (self.label, self.table, self.notes, self.trajectory, self.prefix, self.importance, self.internals)


def empty_page(message: str) -> PageResult:
    """No input: a message everywhere, and no table at all (not an empty one with columns "1 2 3")."""
    fig = plots.message_figure(message)
    return PageResult(None, None, notes_markdown([message]), fig, fig, [], fig)


def analyze_page(reg: Registry, text: str, model: str, dims: int = 2, internals_choice: str | None = None,
                 with_internals: bool = True) -> PageResult:
    """The main tab: label + table for all headlines, detailed views for the first one.

    with_internals=False leaves the heatmaps out (None): the page draws them only while shown."""
    entry = reg.get(model)
    headlines, notes = split_headlines(text)
    if not headlines:
        return empty_page(i18n.tr("note.empty"))
    probs = entry.predictor.predict_proba(headlines)
    for i, h in enumerate(headlines):  # a non-English headline gets one note in the reader's language
        notes += [i18n.tr("note.not_english", index=i + 1)] if not_english(h) else vocabulary_notes(entry, h, i)
    if len(headlines) > MAX_PATHS:
        notes.append(i18n.tr("note.paths_shown", n=MAX_PATHS))
    if entry.projection_note:
        notes.append(entry.projection_note)
    first = headlines[0]
    tr = reg.trace(model, first)
    prefix = ins.prefix_probabilities(entry.ckpt.model, tr.ids)
    importance = ins.occlusion_importance(entry.ckpt.model, tr.ids)
    return PageResult(
        label=None if not_english(first) else {c: float(p) for c, p in zip(entry.ckpt.class_names, probs[0])},
        table=headline_table(reg, entry, headlines, probs),
        notes=notes_markdown(notes),
        trajectory=trajectory_view(reg, headlines, model, dims),
        prefix=plots.prefix_figure(tr.tokens, prefix, entry.ckpt.class_names),
        importance=highlighted_importance(tr.tokens, importance, tr.known),
        internals=internals_view(reg, first, model, internals_choice) if with_internals else None,
        extra={"prefix": prefix, "importance": importance, "probs": probs, "trace": tr},
    )


def compare_view(reg: Registry, text: str):
    """Every model on the same headlines: bars for the first, a table for all, small-multiple paths."""
    headlines, notes = split_headlines(text)
    if not headlines:
        msg = i18n.tr("note.compare_empty")
        fig = plots.message_figure(msg)
        return fig, pd.DataFrame(), fig, notes_markdown([msg])
    classes = list(reg.class_names)
    names = lesson_order(reg.names)
    all_probs = {n: reg.get(n).predictor.predict_proba(headlines) for n in names}
    bars = plots.compare_figure(names, np.stack([all_probs[n][0] for n in names]), classes)
    rows = []
    for i, h in enumerate(headlines):
        for n in names:
            p = all_probs[n][i]
            rows.append([i + 1, h, n, class_label(classes[int(np.argmax(p))]), *(round(float(v), 4) for v in p)])
    columns = [i18n.tr(k) for k in ("card.col_index", "card.col_headline", "card.col_model", "card.col_predicted")]
    table = pd.DataFrame(rows, columns=[*columns, *map(class_label, classes)])
    shown = headlines[:COMPARE_PATHS]
    panels = []
    for n in names:
        entry = reg.get(n)
        if entry.projection is None:  # the bag: nothing to draw; said in the notes
            notes.append(i18n.tr("note.no_trajectory", model=n))
            continue
        panels += trajectory_panels(entry, shown, [reg.trace(n, h) for h in shown], compact=True)
    if len(headlines) > COMPARE_PATHS:
        notes.append(i18n.tr("note.small_multiples", n=COMPARE_PATHS))
    return bars, table, plots.small_multiples_figure(panels, classes), notes_markdown(notes)


def model_card(reg: Registry, model: str):
    """(Markdown, confusion-matrix figure, training-curves figure); see `cards.model_card`."""
    return cards.model_card(reg, model, shown_path=_shown_path)


def packing_view(reg: Registry, text: str, k: int):
    """Padding drift of the lesson's unpacked LSTM vs the packed one; see `cards.packing_view`."""
    return cards.packing_view(reg, text, k, PACKING_PAIR, MAX_PADS, split_headlines)


def configure_torch(threads: int = 1) -> None:
    """Small models answer fastest on one thread, and the page shares the CPU with other requests."""
    torch.set_num_threads(threads)
