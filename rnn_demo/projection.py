"""A fixed 3-D PCA of each model's hidden-state space, fitted once and shipped beside the checkpoint.

For every direction d of the last layer (forward; and backward for bidirectional models) the
PCA is fitted on the per-word states of a fixed reference set: `REFERENCE_PER_CLASS` headlines
per class drawn with seed `REFERENCE_SEED` from the training file. The cloud kept for the plots
is the *final* state of each reference headline in that direction (forward: after its last
word; backward: after reading back to its first word) with its class label. The raw texts are
not stored.

Files (next to config.json):
    projection.safetensors   d{d}.mean (H,), d{d}.components (H, 3), d{d}.cloud (N, 3), labels (N,)
    projection.json          format, reference set, explained variance, sha256 of the weights

The recorded weights digest lets the app notice a projection fitted for older weights.
Build: `python -m rnn_demo.projection --all --data ../shared/data/ag_news/train_hf.jsonl`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from .catalog import TRAIN_DATA
from . import schema
from .checkpoint import WEIGHTS_FILE, Checkpoint, CheckpointError, discover_checkpoints, load_or_report
from .data import DataError, read_dataset
from .tokenizer import file_sha256
from .fast_tokenizer import encode_batch

PROJECTION_FORMAT = "rnn_demo.projection/1"
PROJECTION_WEIGHTS = "projection.safetensors"
PROJECTION_META = "projection.json"
N_COMPONENTS = 3
REFERENCE_PER_CLASS = 250
REFERENCE_SEED = 0
REFERENCE_MAX_LEN = 200
BATCH_SIZE = 128


@dataclass
class Projection:
    """Per-direction PCA (mean, components) plus the reference cloud of final states."""

    means: list[np.ndarray]  # per direction (H,)
    components: list[np.ndarray]  # per direction (H, 3)
    clouds: list[np.ndarray]  # per direction (N, 3)
    labels: np.ndarray  # (N,) class index of each cloud point
    meta: dict

    @property
    def num_directions(self) -> int:
        return len(self.means)

    def project(self, direction: int, states: np.ndarray) -> np.ndarray:
        """(..., H) states of one direction -> (..., 3) coordinates."""
        return (np.asarray(states, dtype=np.float64) - self.means[direction]) @ self.components[direction]

    def is_current(self, ckpt_path: Path) -> bool:
        """True when this projection was fitted for the weights now in `ckpt_path`."""
        weights = Path(ckpt_path) / WEIGHTS_FILE
        return weights.is_file() and self.meta.get("weights_sha256") == file_sha256(weights)


def sample_reference(labels: list[int], num_classes: int, per_class: int = REFERENCE_PER_CLASS,
                     seed: int = REFERENCE_SEED) -> np.ndarray:
    """Row indices: `per_class` rows of each class (fewer if the class is smaller), sorted."""
    rng = np.random.default_rng(seed)
    labels_arr = np.asarray(labels)
    picked = []
    for c in range(num_classes):
        rows = np.flatnonzero(labels_arr == c)
        picked.append(rng.choice(rows, size=min(per_class, rows.size), replace=False))
    return np.sort(np.concatenate(picked))


@torch.inference_mode()
def reference_states(ckpt: Checkpoint, texts: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per direction: (all per-word states (M, H), final states (N, H)) of the last layer."""
    model, hidden = ckpt.model, ckpt.config.hidden_size
    directions = ckpt.config.num_directions
    words: list[list[np.ndarray]] = [[] for _ in range(directions)]
    finals: list[list[np.ndarray]] = [[] for _ in range(directions)]
    for start in range(0, len(texts), BATCH_SIZE):
        tokens, lengths = encode_batch(ckpt.vocab, texts[start:start + BATCH_SIZE], REFERENCE_MAX_LEN)
        states, _ = model.encode(tokens, lengths)  # (B, T, D*H); positions >= length are ignored
        states = states.double().numpy()
        for b, n in enumerate(lengths.tolist()):
            for d in range(directions):
                part = states[b, :n, d * hidden:(d + 1) * hidden]
                words[d].append(part)
                # forward ends after the last word; backward ends after reading back to word 0
                finals[d].append(part[-1] if d == 0 else part[0])
    return [np.concatenate(w) for w in words], [np.stack(f) for f in finals]


def fit_pca(x: np.ndarray, k: int = N_COMPONENTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (M, H) -> (mean (H,), components (H, k), explained variance ratio (k,)), deterministic signs."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    cov = np.cov(x - mean, rowvar=False)
    values, vectors = np.linalg.eigh(cov)  # ascending
    order = np.argsort(values)[::-1][:k]
    values, vectors = values[order], vectors[:, order]
    if vectors.shape[1] < k:  # fewer dims than components (tiny models): pad with zeros
        vectors = np.pad(vectors, ((0, 0), (0, k - vectors.shape[1])))
        values = np.pad(values, (0, k - values.shape[0]))
    # sign convention: the largest loading of each component is positive
    flip = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(k)])
    vectors = vectors * np.where(flip == 0, 1.0, flip)
    total = float(np.clip(np.trace(cov) if cov.ndim == 2 else cov, 1e-12, None))
    return mean, vectors, values / total


def build_projection(ckpt: Checkpoint, texts: list[str], labels: list[int], data_meta: dict) -> Projection:
    """Fit the per-direction PCA on the reference texts' per-word states and project their final states."""
    words, finals = reference_states(ckpt, texts)
    means, comps, clouds, explained = [], [], [], []
    for w, f in zip(words, finals):
        mean, comp, ratio = fit_pca(w)
        means.append(mean)
        comps.append(comp)
        clouds.append((f - mean) @ comp)
        explained.append([round(float(r), 6) for r in ratio])
    meta = {
        "format": PROJECTION_FORMAT,
        "checkpoint": ckpt.name,
        "weights_sha256": file_sha256(Path(ckpt.path) / WEIGHTS_FILE),
        "directions": len(means),
        "hidden_size": ckpt.config.hidden_size,
        "components": N_COMPONENTS,
        "explained_variance_ratio": explained,
        "fitted_on": "every word's last-layer state of the reference headlines, per direction",
        "cloud": "final state of each reference headline, per direction",
        "reference": {**data_meta, "rows": len(texts), "per_class": REFERENCE_PER_CLASS,
                      "seed": REFERENCE_SEED, "max_len": REFERENCE_MAX_LEN,
                      "words": int(sum(len(w) for w in words[:1]))},
    }
    return Projection(means, comps, clouds, np.asarray(labels, dtype=np.int64), meta)


def save_projection(proj: Projection, ckpt_dir: str | Path) -> None:
    out = Path(ckpt_dir)
    # C order: safetensors writes the raw buffer, and eigh's vectors come back in Fortran order
    as_f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    tensors = {"labels": np.ascontiguousarray(proj.labels, dtype=np.int64)}
    for d in range(proj.num_directions):
        tensors[f"d{d}.mean"] = as_f32(proj.means[d])
        tensors[f"d{d}.components"] = as_f32(proj.components[d])
        tensors[f"d{d}.cloud"] = as_f32(proj.clouds[d])
    save_file(tensors, str(out / PROJECTION_WEIGHTS), metadata={"format": PROJECTION_FORMAT})
    (out / PROJECTION_META).write_text(json.dumps(proj.meta, indent=2) + "\n", encoding="utf-8")


class ProjectionError(CheckpointError):
    """A projection file that exists but cannot be used; the message names the file and the problem."""


def load_projection(ckpt_dir: str | Path, directions: int | None = None,
                    hidden_size: int | None = None, num_classes: int | None = None) -> Projection | None:
    """The stored projection of a checkpoint folder, or None when it has none (neither file exists).

    A damaged one (either file missing, truncated, unreadable, a field of projection.json with the
    wrong type or range (`schema.check_projection_meta`), or arrays of the wrong shape) raises
    `ProjectionError` naming the file. Given `directions` and `hidden_size` (the model's), the stored
    arrays must match them: (H,) means, (H, 3) components, (N, 3) clouds, (N,) labels, and given
    `num_classes`, every label must be a class index.
    """
    root = Path(ckpt_dir)
    meta_path, weights_path = root / PROJECTION_META, root / PROJECTION_WEIGHTS
    if not meta_path.exists() and not weights_path.exists():
        return None
    for present, absent in ((meta_path, weights_path), (weights_path, meta_path)):
        if not absent.is_file():
            raise ProjectionError(f"{absent}: missing while {present.name} is present; rebuild with "
                                  f"`python -m rnn_demo.projection --checkpoint {root}`")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProjectionError(f"{meta_path}: not valid JSON ({exc}); the file may be truncated") from None
    if not isinstance(meta, dict) or meta.get("format") != PROJECTION_FORMAT:
        raise ProjectionError(f"{meta_path}: not a {PROJECTION_FORMAT} file")
    n_dirs = meta.get("directions")
    if not isinstance(n_dirs, int) or isinstance(n_dirs, bool) or not 1 <= n_dirs <= 2:
        raise ProjectionError(f"{meta_path}: 'directions' must be 1 or 2, got {n_dirs!r}")
    if directions is not None and n_dirs != directions:
        raise ProjectionError(f"{meta_path}: fitted for {n_dirs} direction(s), the model has {directions}")
    try:
        schema.check_projection_meta(meta, meta_path, n_dirs, N_COMPONENTS)
    except schema.SchemaError as exc:
        raise ProjectionError(str(exc)) from None
    try:
        tensors = load_file(str(weights_path))  # safetensors: no pickle; SafetensorError on damage
    except Exception as exc:  # noqa: BLE001 - SafetensorError, OSError, ValueError: all mean "damaged"
        raise ProjectionError(f"{weights_path}: cannot read safetensors ({type(exc).__name__}: {exc}); "
                              "the file may be truncated") from None
    labels = tensors.get("labels")
    if labels is None or labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ProjectionError(f"{weights_path}: 'labels' must be a 1-D array of integers")
    if num_classes is not None and labels.size and not (0 <= labels.min() and labels.max() < num_classes):
        raise ProjectionError(f"{weights_path}: 'labels' must be class indices 0..{num_classes - 1}, "
                              f"got {int(labels.min())}..{int(labels.max())}")
    means, comps, clouds = [], [], []
    for d in range(n_dirs):
        got = [tensors.get(f"d{d}.{k}") for k in ("mean", "components", "cloud")]
        if any(a is None for a in got):
            raise ProjectionError(f"{weights_path}: arrays of direction {d} are missing")
        mean, comp, cloud = got
        h = hidden_size if hidden_size is not None else mean.shape[0] if mean.ndim == 1 else -1
        want = {"mean": (h,), "components": (h, N_COMPONENTS), "cloud": (labels.shape[0], N_COMPONENTS)}
        for key, arr in zip(want, got):
            if arr.shape != want[key]:
                raise ProjectionError(f"{weights_path}: d{d}.{key} has shape {arr.shape}, expected {want[key]}")
            if not np.isfinite(arr).all():
                raise ProjectionError(f"{weights_path}: d{d}.{key} holds NaN or infinite values")
        means.append(mean.astype(np.float64))
        comps.append(comp.astype(np.float64))
        clouds.append(cloud.astype(np.float64))
    return Projection(means=means, components=comps, clouds=clouds, labels=labels, meta=meta)


def fit_fallback(ckpt: Checkpoint, texts: list[str]) -> Projection:
    """A projection fitted on a few given headlines, with no cloud: used only when none is shipped."""
    words, _ = reference_states(ckpt, texts)
    means, comps = [], []
    for w in words:
        mean, comp, _ = fit_pca(w)
        means.append(mean)
        comps.append(comp)
    empty = [np.zeros((0, N_COMPONENTS)) for _ in words]
    return Projection(means, comps, empty, np.zeros(0, dtype=np.int64),
                      {"format": PROJECTION_FORMAT, "fallback": True, "checkpoint": ckpt.name})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rnn_demo.projection", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--checkpoint", action="append", help="checkpoint folder to build for (repeatable)")
    target.add_argument("--all", action="store_true", help="build for every checkpoint under --root")
    p.add_argument("--root", default="checkpoints", help="folder holding the checkpoints (for --all)")
    p.add_argument("--data", default=TRAIN_DATA,
                   help="labelled AG News file (CSV, JSON lines or parquet) to draw the reference set from")
    args = p.parse_args(argv)
    folders = discover_checkpoints(args.root) if args.all else [Path(c) for c in args.checkpoint]
    if not folders:
        print(f"error: no checkpoints found under {args.root}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)  # one thread: float reductions in a fixed order, byte-identical files
    try:
        data = read_dataset(args.data)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data_path = Path(args.data)
    status = 0
    for folder in folders:
        start = time.perf_counter()
        ckpt = load_or_report(folder)
        if ckpt is None:
            status = 2
            continue
        if not ckpt.config.is_recurrent:  # the bag of embeddings has no hidden state to project
            if args.all:
                print(f"{folder}: skipped ({ckpt.config.cell}: no hidden state, no trajectory)")
            else:
                print(f"error: {folder}: a {ckpt.config.cell} model has no hidden state to project", file=sys.stderr)
                status = 2
            continue
        rows = sample_reference(data.labels, len(ckpt.class_names))
        texts = [data.texts[i] for i in rows]
        labels = [data.labels[i] for i in rows]
        data_meta = {"file": data_path.name, "sha256": file_sha256(data_path), "file_rows": len(data)}
        proj = build_projection(ckpt, texts, labels, data_meta)
        save_projection(proj, folder)
        ratios = ", ".join("/".join(f"{r:.2f}" for r in e) for e in proj.meta["explained_variance_ratio"])
        print(f"{folder}: {len(texts)} reference rows, explained variance {ratios}, "
              f"{time.perf_counter() - start:.1f}s -> {PROJECTION_WEIGHTS}, {PROJECTION_META}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
