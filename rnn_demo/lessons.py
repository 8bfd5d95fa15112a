"""The lesson's three arguments, measured once per checkpoint and stored beside it.

    python -m rnn_demo.lessons --checkpoint checkpoints/NAME --data ../shared/data/ag_news/test.csv [--json]
    python -m rnn_demo.lessons --all --data ../shared/data/ag_news/test.csv

1. Word order: accuracy on each headline as written, with its words reversed and with its
   words shuffled (seeded), and the share of answers that change. A bag of embeddings
   cannot change by construction; a recurrent model may.
2. Memory: how much the final hidden state still depends on a word t steps back,
   ||d h_T / d x_t|| (Frobenius norm of the Jacobian of the last layer's final state with
   respect to word t's embedding), normalised by the last word's and summarised as the median
   over long test headlines by distance from the last word. Recurrent models only.
3. Batching: accuracy when the test set is read one headline at a time, in length-sorted
   batches of 64, and in random batches of 16, 64 and 256 (each padded to its longest
   headline), and how many answers differ from one-by-one. Only a model that reads the
   padding (the lesson's unpacked LSTM) can change.

The result goes to CHECKPOINT/lessons.json with the sha256 of the weights it was measured on,
so the app can notice a stale file (as it does for projections). Nothing is tuned here: the
test set is only read.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import schema
from .batching import EncodedDataset
from .catalog import TEST_DATA
from .checkpoint import WEIGHTS_FILE, Checkpoint, CheckpointError, discover_checkpoints, load_checkpoint
from .data import DataError, read_dataset
from .models import TextClassifier
from .tokenizer import file_sha256

LESSONS_FORMAT = "rnn_demo.lessons/1"
LESSONS_FILE = "lessons.json"
SHUFFLE_SEED = 0
BATCH_SEED = 0
MEMORY_MIN_WORDS = 30  # headlines at least this long enter the memory curve
MEMORY_DISTANCES = MEMORY_MIN_WORDS  # distances 0 .. 29: every such headline contributes to each
MEMORY_MAX_HEADLINES = 400  # deterministic subsample (seeded) to keep --all within minutes on a CPU
MEMORY_SEED = 0
BATCHING_MODES = ("one_by_one", "sorted_64", "random_16", "random_64", "random_256")
WORD_ORDER_KEYS = ("accuracy", "reversed_accuracy", "shuffled_accuracy", "changed_by_reverse", "changed_by_shuffle")


class LessonsError(CheckpointError):
    """A lessons.json that cannot be used; the message names the file and the problem."""


# ---------------------------------------------------------------- word order

def reverse_rows(tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T) right-padded ids -> the same rows with their first `length` ids reversed, pads in place."""
    steps = torch.arange(tokens.size(1)).unsqueeze(0)  # (1, T)
    index = torch.where(steps < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - steps, steps)
    return tokens.gather(1, index)


def shuffle_rows(tokens: torch.Tensor, lengths: torch.Tensor, seed: int) -> torch.Tensor:
    """(B, T) -> each row's real ids in a random order (one seeded permutation per row), pads in place.

    Sorting random keys gives a permutation per row in one call; pads get key +inf so they stay last.
    """
    generator = torch.Generator().manual_seed(seed)
    keys = torch.rand(tokens.shape, generator=generator)
    steps = torch.arange(tokens.size(1)).unsqueeze(0)
    keys = keys.masked_fill(steps >= lengths.unsqueeze(1), math.inf)
    return tokens.gather(1, keys.argsort(dim=1))


def shuffle_words(words: list, seed: int) -> list:
    """One headline's words in a seeded random order (the page's "shuffled" variant)."""
    if len(words) < 2:
        return list(words)
    ids = torch.arange(len(words)).unsqueeze(0)
    order = shuffle_rows(ids, torch.tensor([len(words)]), seed)[0].tolist()
    return [words[i] for i in order]


@torch.inference_mode()
def predict_in_batches(model: TextClassifier, tokens: torch.Tensor, lengths: torch.Tensor,
                       batches: list[torch.Tensor]) -> torch.Tensor:
    """Predicted class per row; each batch is cut to its own longest row (as a DataLoader would pad it)."""
    preds = torch.empty(tokens.size(0), dtype=torch.long)
    for index in batches:
        batch_lengths = lengths[index]
        logits = model(tokens[index, : int(batch_lengths.max())], batch_lengths)
        preds[index] = logits.argmax(-1)
    return preds


def sorted_batches(lengths: torch.Tensor, size: int) -> list[torch.Tensor]:
    return list(torch.argsort(lengths, stable=True).split(size))


def random_batches(n: int, size: int, seed: int) -> list[torch.Tensor]:
    return list(torch.randperm(n, generator=torch.Generator().manual_seed(seed)).split(size))


def measure_word_order(model: TextClassifier, data: EncodedDataset, seed: int = SHUFFLE_SEED) -> dict:
    """Accuracy on original / reversed / shuffled rows and the share of answers that change (fractions)."""
    batches = sorted_batches(data.lengths, 256)  # order does not matter here; sorted wastes least padding
    original = predict_in_batches(model, data.tokens, data.lengths, batches)
    reversed_ = predict_in_batches(model, reverse_rows(data.tokens, data.lengths), data.lengths, batches)
    shuffled = predict_in_batches(model, shuffle_rows(data.tokens, data.lengths, seed), data.lengths, batches)
    n = len(data)

    def acc(preds: torch.Tensor) -> float:
        return round(float((preds == data.labels).float().mean()), 6)

    return {
        "accuracy": acc(original),
        "reversed_accuracy": acc(reversed_),
        "shuffled_accuracy": acc(shuffled),
        "changed_by_reverse": round(int((reversed_ != original).sum()) / n, 6),
        "changed_by_shuffle": round(int((shuffled != original).sum()) / n, 6),
        "shuffle_seed": seed,
        "n": n,
    }


# ---------------------------------------------------------------- memory

SENSITIVITY_ELEMENTS = 200_000  # copies x words x state width per backward pass (bounds its memory)


def final_state_sensitivity(model: TextClassifier, ids: list[int]) -> dict[str, np.ndarray]:
    """Per word t: ||d h_final / d x_t||_F for one headline read on its own (no padding).

    h_final is the last layer's forward state after the last word and, for bidirectional
    models, the backward state after reading back to the first word. x_t is word t's
    embedding (E,), so each Jacobian block is (H, E).

    Exact and in one backward pass: the headline is replicated once per output unit (D*H
    copies), copy i's embeddings get their own gradient, and we backpropagate
    sum_i h_final[i, unit i]. Copy i's gradient is then row i of the Jacobian, (T, E), so the
    Frobenius norm over i and E gives the value for every t at once.
    Returns {"forward": (T,), "backward": (T,) if bidirectional}.
    """
    cfg = model.config
    if not cfg.is_recurrent:
        raise ValueError(f"a {cfg.cell!r} model has no hidden state, so it has no memory to measure")
    steps, hidden, dirs = len(ids), cfg.hidden_size, cfg.num_directions
    units = dirs * hidden
    # Copies go through the network in chunks: the autograd graph of all D*H copies of a long
    # headline at once is what set the server's peak memory (~0.9 GB for a 200-word headline
    # on bilstm-2layer); chunks bound it, and each row of the Jacobian is still exact.
    chunk = max(1, min(units, SENSITIVITY_ELEMENTS // max(1, steps * units)))
    was_training = model.training
    model.eval()  # dropout off: the Jacobian of the model as it answers
    try:
        tokens = torch.tensor([ids], dtype=torch.long)
        with torch.no_grad():
            embedded = model.embedding(tokens)  # (1, T, E)
        rows = []
        for first in range(0, units, chunk):
            unit = torch.arange(first, min(units, first + chunk))  # the output units of this chunk
            with torch.enable_grad():
                copies = embedded.repeat(len(unit), 1, 1).requires_grad_(True)  # (C, T, E)
                lengths = torch.full((len(unit),), steps, dtype=torch.long)
                states = model.run_layers(copies, lengths)  # (C, T, D*H)
                final = states[:, steps - 1, :hidden]  # forward final state, (C, H)
                if dirs == 2:
                    final = torch.cat([final, states[:, 0, hidden:]], dim=-1)  # backward final at word 0
                final[torch.arange(len(unit)), unit].sum().backward()
            rows.append(copies.grad)  # (C, T, E): row i = d h_final[unit i] / d x
        grad = torch.cat(rows)  # (D*H, T, E)
    finally:
        model.train(was_training)
    per_direction = grad.view(dirs, hidden, steps, -1).pow(2).sum(dim=(1, 3)).sqrt()  # (D, T)
    out = {"forward": per_direction[0].numpy().astype(np.float64)}
    if dirs == 2:
        out["backward"] = per_direction[1].numpy().astype(np.float64)
    return out


def memory_sample(lengths: torch.Tensor, min_words: int = MEMORY_MIN_WORDS,
                  limit: int = MEMORY_MAX_HEADLINES, seed: int = MEMORY_SEED) -> np.ndarray:
    """Row indices of headlines with >= min_words words; a seeded subsample of `limit` if more (sorted)."""
    rows = np.flatnonzero(lengths.numpy() >= min_words)
    if limit and rows.size > limit:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=limit, replace=False))
    return rows


def measure_memory(model: TextClassifier, data: EncodedDataset, limit: int = MEMORY_MAX_HEADLINES) -> dict:
    """Median over long headlines of sensitivity / last word's sensitivity, by distance from the last word.

    Forward: distance d = T-1-t (0 = last word). Backward (bidirectional): the backward reader's
    last word is the first, so d = t, normalised by word 0's value.
    """
    rows = memory_sample(data.lengths, limit=limit)
    eligible = int((data.lengths >= MEMORY_MIN_WORDS).sum())
    if rows.size == 0:
        raise ValueError(f"no test headline has {MEMORY_MIN_WORDS} or more words")
    forward, backward = [], []
    for r in rows:
        length = int(data.lengths[r])
        ids = data.tokens[r, :length].tolist()
        sens = final_state_sensitivity(model, ids)
        fwd = sens["forward"][::-1]  # index = distance from the last word
        forward.append(fwd[:MEMORY_DISTANCES] / fwd[0])
        if "backward" in sens:
            bwd = sens["backward"]  # index = distance from the first word
            backward.append(bwd[:MEMORY_DISTANCES] / bwd[0])
    result = {
        "distance": list(range(MEMORY_DISTANCES)),
        "median": [float(f"{v:.6g}") for v in np.median(np.stack(forward), axis=0)],
        "headlines": int(rows.size),
        "eligible_headlines": eligible,
        "min_words": MEMORY_MIN_WORDS,
        "sample_seed": MEMORY_SEED,
    }
    if backward:
        result["backward"] = [float(f"{v:.6g}") for v in np.median(np.stack(backward), axis=0)]
    return result


# ---------------------------------------------------------------- batching

def measure_batching(model: TextClassifier, data: EncodedDataset, seed: int = BATCH_SEED) -> dict:
    """Accuracy per batching mode and the number of answers that differ from one-by-one."""
    n = len(data)
    plans = {
        "one_by_one": list(torch.arange(n).split(1)),
        "sorted_64": sorted_batches(data.lengths, 64),
        "random_16": random_batches(n, 16, seed),
        "random_64": random_batches(n, 64, seed),
        "random_256": random_batches(n, 256, seed),
    }
    preds = {mode: predict_in_batches(model, data.tokens, data.lengths, plan) for mode, plan in plans.items()}
    result = {mode: round(float((p == data.labels).float().mean()), 6) for mode, p in preds.items()}
    result["changed"] = {mode: int((p != preds["one_by_one"]).sum()) for mode, p in preds.items()
                         if mode != "one_by_one"}
    result["n"] = n
    result["seed"] = seed
    return result


# ---------------------------------------------------------------- all three, file I/O

def measure_all(ckpt: Checkpoint, data_path: str | Path, memory_limit: int = MEMORY_MAX_HEADLINES) -> dict:
    dataset = read_dataset(data_path)
    max_len = ckpt.metrics.get("settings", {}).get("max_len", 200)
    data = EncodedDataset(ckpt.vocab, dataset.texts, dataset.labels, max_len)
    model = ckpt.model.eval()
    start = time.perf_counter()
    seconds = {}
    word_order = measure_word_order(model, data)
    seconds["word_order"] = round(time.perf_counter() - start, 2)
    memory = None
    if ckpt.config.is_recurrent:
        t0 = time.perf_counter()
        memory = measure_memory(model, data, memory_limit)
        seconds["memory"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    batching = measure_batching(model, data)
    seconds["batching"] = round(time.perf_counter() - t0, 2)
    return {
        "format": LESSONS_FORMAT,
        "checkpoint": ckpt.name,
        "weights_sha256": file_sha256(Path(ckpt.path) / WEIGHTS_FILE),
        "data": {"path": Path(data_path).name, "rows": len(dataset), "sha256": file_sha256(data_path)},
        "word_order": word_order,
        "memory": memory,
        "batching": batching,
        "seconds": seconds,
        "torch_threads": torch.get_num_threads(),
    }


def save_lessons(result: dict, ckpt_dir: str | Path) -> Path:
    path = Path(ckpt_dir) / LESSONS_FILE
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path


def _check_lessons(data, path: Path) -> None:
    """Every field the lesson views read: types, ranges, shapes (raises schema.SchemaError)."""
    schema.obj(data, path, "the file")
    if data.get("format") != LESSONS_FORMAT:
        raise LessonsError(f"{path}: format {data.get('format')!r} is not {LESSONS_FORMAT!r}")
    schema.sha256(data.get("weights_sha256", schema.MISSING), path, "weights_sha256")
    schema.optional(data, "checkpoint", schema.text, path)
    schema.optional(data, "data", schema.check_data_info, path)
    word_order = schema.obj(data.get("word_order", schema.MISSING), path, "word_order")
    for key in WORD_ORDER_KEYS:
        schema.fraction(word_order.get(key, schema.MISSING), path, f"word_order.{key}")
    schema.optional(word_order, "n", schema.integer, path, "word_order.n", 1)
    batching = schema.obj(data.get("batching", schema.MISSING), path, "batching")
    for mode in BATCHING_MODES:
        schema.fraction(batching.get(mode, schema.MISSING), path, f"batching.{mode}")
    schema.integer(batching.get("n", schema.MISSING), path, "batching.n", 1)
    changed = schema.obj(batching.get("changed", schema.MISSING), path, "batching.changed")
    for mode in BATCHING_MODES[1:]:
        schema.integer(changed.get(mode, schema.MISSING), path, f"batching.changed.{mode}", 0, batching["n"])
    memory = data.get("memory")
    if memory is not None:
        schema.obj(memory, path, "memory")
        distance = schema.array(memory.get("distance", schema.MISSING), path, "memory.distance", min_len=1)
        if distance != list(range(len(distance))):
            schema.fail(path, "memory.distance", "the distances 0, 1, 2, ... in order", distance)
        for key in ("median", "backward"):
            if key == "backward" and key not in memory:
                continue
            values = schema.array(memory.get(key, schema.MISSING), path, f"memory.{key}", length=len(distance))
            for i, v in enumerate(values):
                schema.number(v, path, f"memory.{key}[{i}]", 0)
        for key in ("headlines", "eligible_headlines", "min_words"):  # quoted by the memory view
            schema.integer(memory.get(key, schema.MISSING), path, f"memory.{key}")
    if "seconds" in data:
        for key, value in schema.obj(data["seconds"], path, "seconds").items():
            schema.number(value, path, f"seconds.{key}", 0)


def validate_lessons(data, path: Path) -> dict:
    """Check the structure the app relies on; raise LessonsError naming the file and the field."""
    try:
        _check_lessons(data, path)
    except schema.SchemaError as exc:
        raise LessonsError(str(exc)) from None
    return data


@dataclass
class Lessons:
    """A loaded lessons.json; `current` is False when it was measured on other weights."""

    path: Path
    data: dict
    current: bool

    @property
    def word_order(self) -> dict:
        return self.data["word_order"]

    @property
    def memory(self) -> dict | None:
        return self.data.get("memory")

    @property
    def batching(self) -> dict:
        return self.data["batching"]


def load_lessons(ckpt_dir: str | Path) -> Lessons | None:
    """The stored measurements of a checkpoint, None when there are none; LessonsError when damaged."""
    root = Path(ckpt_dir)
    path = root / LESSONS_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LessonsError(f"{path}: not valid JSON ({exc}); the file may be truncated") from None
    except OSError as exc:
        raise LessonsError(f"{path}: cannot be read ({exc})") from None
    validate_lessons(data, path)
    weights = root / WEIGHTS_FILE
    current = weights.is_file() and data["weights_sha256"] == file_sha256(weights)
    return Lessons(path=path, data=data, current=current)


def format_summary(result: dict) -> str:
    wo, b, mem = result["word_order"], result["batching"], result["memory"]
    lines = [f"{result['checkpoint']} on {result['data']['rows']} rows of {result['data']['path']}:",
             f"  word order: accuracy {wo['accuracy']:.4f}, reversed {wo['reversed_accuracy']:.4f}, "
             f"shuffled {wo['shuffled_accuracy']:.4f}; answers changed by reversing "
             f"{100 * wo['changed_by_reverse']:.1f} %, by shuffling {100 * wo['changed_by_shuffle']:.1f} %"]
    if mem:
        picks = [d for d in (5, 10, 20, 29) if d < len(mem["median"])]
        lines.append(f"  memory ({mem['headlines']} headlines of >= {mem['min_words']} words): " +
                     ", ".join(f"{d} back {mem['median'][d]:.3g}" for d in picks))
    else:
        lines.append("  memory: none (no hidden state)")
    lines.append("  batching: " + ", ".join(f"{m} {b[m]:.4f}" for m in BATCHING_MODES) +
                 "; changed vs one-by-one: " + ", ".join(f"{m} {c}" for m, c in b["changed"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rnn_demo.lessons", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--checkpoint", help="checkpoint folder to measure")
    target.add_argument("--all", action="store_true", help="every checkpoint folder under --checkpoints")
    p.add_argument("--checkpoints", default="checkpoints", help="where --all looks")
    p.add_argument("--data", default=TEST_DATA, help="labelled test file")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object (for --all: name -> result)")
    p.add_argument("--memory-headlines", type=int, default=MEMORY_MAX_HEADLINES,
                   help="long headlines used for the memory curve (seeded subsample; 0 = all)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-save", action="store_true", help=f"do not write {LESSONS_FILE}")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    folders = [Path(args.checkpoint)] if args.checkpoint else discover_checkpoints(args.checkpoints)
    if not folders:
        print(f"error: no checkpoint folders under {args.checkpoints}", file=sys.stderr)
        return 2
    results = {}
    for folder in folders:
        try:
            ckpt = load_checkpoint(folder)
            result = measure_all(ckpt, args.data, args.memory_headlines)
        except (CheckpointError, DataError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if not args.no_save:
            saved = save_lessons(result, folder)
            print(f"wrote {saved}", file=sys.stderr)
        if not args.json:
            print(format_summary(result), flush=True)
        results[ckpt.name] = result
    if args.json:
        print(json.dumps(results if args.all else next(iter(results.values()))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
