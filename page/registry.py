"""The page's models: every checkpoint under a folder, loaded once at start.

Each `ModelEntry` holds the checkpoint (model, vocabulary, metrics), a predictor for class
probabilities, the stored projection of its hidden states and its lesson measurements
(lessons.json). A damaged folder (a file missing, unreadable or with a wrong field, or a model
that fails its self-test, see `rnn_demo.checkpoint`) leaves that model out and is listed in
`Registry.problems`; the others serve. The predictor (PyTorch or onnxruntime) must pass the same
self-test, or the model is left out too. A projection or lessons.json made for other weights
(their recorded weights sha256 differs) is not shown: the model loads, and a note names the file.
Per-word traces of recently read headlines are kept in a cache bounded by bytes.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rnn_demo import selftest, states
from rnn_demo.catalog import EXAMPLES
from rnn_demo.checkpoint import SELFTEST_FILE, Checkpoint, CheckpointError, discover_checkpoints, load_checkpoint
from rnn_demo.lessons import Lessons, load_lessons
from rnn_demo.predict import Predictor, TorchPredictor
from rnn_demo.projection import PROJECTION_META, Projection, fit_fallback, load_projection

TRACE_CACHE_ENV = "RNN_DEMO_TRACE_CACHE_MB"
TRACE_CACHE_DEFAULT_MB = 32
PredictorFactory = Callable[[Checkpoint], Predictor]


class UnknownModelError(ValueError):
    """A model name that is not among the loaded checkpoints; the message lists the valid ones."""


@dataclass
class ModelEntry:
    """One loaded checkpoint with what the page needs to serve it."""

    ckpt: Checkpoint
    predictor: Predictor
    projection: Projection | None  # None for the bag of embeddings (no hidden state to project)
    projection_note: str = ""  # non-empty when the shipped projection is missing or stale
    lessons: Lessons | None = None  # None when the folder has no lessons.json; not shown unless .current

    @property
    def name(self) -> str:
        return self.ckpt.name

    @property
    def gated(self) -> bool:
        return self.ckpt.config.cell in ("lstm", "gru")


def shown_path(path: str | Path) -> str:
    """A path as a user would type it: relative to the working directory when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _trace_cache_bytes() -> int:
    raw = os.environ.get(TRACE_CACHE_ENV, str(TRACE_CACHE_DEFAULT_MB)).strip()
    try:
        mb = float(raw)
    except ValueError:
        raise ValueError(f"{TRACE_CACHE_ENV}={raw!r}: expected a number of megabytes (0 turns the cache off)") from None
    if not 0 <= mb <= 4096:
        raise ValueError(f"{TRACE_CACHE_ENV}={raw!r}: expected 0..4096 megabytes")
    return int(mb * 2**20)


def trace_nbytes(tr: states.Trace) -> int:
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
    """Every checkpoint under `root`, loaded once; unreadable folders are listed in `problems`.

    predictors: checkpoint -> predictor of class probabilities (PyTorch by default; app.py passes
    `export.runtime.onnx_predictors(...)` for onnxruntime). `backend` names it on the API tab.
    The inspection views (states, gates, prefixes, importance, padding drift) always use PyTorch.
    """

    def __init__(self, root: str | Path = "checkpoints", predictors: PredictorFactory = TorchPredictor,
                 backend: str = "torch") -> None:
        self.root = Path(root)
        self.backend = backend
        self.entries: dict[str, ModelEntry] = {}
        self.problems: list[str] = []
        for folder in discover_checkpoints(self.root):
            # One damaged folder must not stop the app: any error while loading it (CheckpointError
            # names the file; safetensors, JSON, lesson data or memory errors from other loaders may
            # not) leaves that model out, and the message is shown on the page and logged.
            try:
                entry = self._load_folder(folder)
            except CheckpointError as exc:
                self.problems.append(str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - any loader failure is this folder's problem
                self.problems.append(f"{shown_path(folder)}: {type(exc).__name__}: {exc}")
                continue
            # outside the try: a predictor that cannot be made (e.g. missing ONNX exports) is the
            # whole app's configuration error, not one damaged checkpoint, and must stop the start
            entry.predictor = predictors(entry.ckpt)
            # a predictor that answers differently from the checkpoint's record (an ONNX export of
            # other weights) serves only that model wrongly: it is left out, like a damaged folder
            try:
                selftest.check_predictor(entry.predictor, entry.ckpt.selftest, entry.ckpt.path / SELFTEST_FILE)
            except selftest.SelftestError as exc:
                self.problems.append(f"{exc} (backend {backend})")
                continue
            self.entries[entry.name] = entry
        if not self.entries:
            raise CheckpointError(f"{self.root}: no loadable checkpoints" +
                                  (f" ({'; '.join(self.problems)})" if self.problems else ""))
        self._traces = TraceCache(_trace_cache_bytes())

    @staticmethod
    def _load_folder(folder: Path) -> ModelEntry:
        """One checkpoint folder -> its entry (predictor still to be made); raises on any damaged file."""
        ckpt = load_checkpoint(folder)
        # a damaged lessons.json leaves the model out like any other damaged file (LessonsError
        # names it); a missing or stale one is explained on the page instead
        lessons = load_lessons(folder)
        cfg = ckpt.config
        if not cfg.is_recurrent:  # the bag of embeddings has no hidden state: no projection
            return ModelEntry(ckpt, None, None, "", lessons)
        projection, note = load_projection(folder, cfg.num_directions, cfg.hidden_size, cfg.num_classes), ""
        if projection is None or not projection.is_current(folder):
            note = ("no stored projection was found" if projection is None else
                    f"{shown_path(folder / PROJECTION_META)} was fitted for other weights (the weights sha256 it "
                    "records is not that of model.safetensors), so it is not used")
            note += (f"; paths use a stand-in projection fitted on the example headlines, without the "
                     f"reference cloud. Rebuild with `python -m rnn_demo.projection --checkpoint "
                     f"{shown_path(folder)}`")
            projection = fit_fallback(ckpt, list(EXAMPLES))
        return ModelEntry(ckpt, None, projection, note, lessons)

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

    def trace(self, name: str, headline: str) -> states.Trace:
        """Per-step states of `headline` under model `name`.

        Cached within a byte budget: the page's views (trajectory, internals, redraws when the
        projection or the layer changes) read the same headline several times, and a long
        headline's trace holds up to ~1 MB, so an entry-count bound would let anyone grow the
        server by sending distinct long texts.
        """
        key = (name, headline)
        tr = self._traces.get(key)
        if tr is None:
            entry = self.get(name)
            tr = states.trace(entry.ckpt.model, entry.ckpt.vocab, headline)
            self._traces.put(key, tr, trace_nbytes(tr) + len(headline) + len(name))
        return tr
