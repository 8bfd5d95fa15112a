"""Training CLI: `python -m rnn_demo.train --preset NAME --data PATH --out checkpoints/NAME`.

Carves a validation split from the training file, trains with Adam on length-bucketed
batches (or, with `--batching random`, the lesson's way: random rows, each batch padded to its
longest headline, so the model sees plenty of padding), keeps the epoch with the best validation accuracy, and writes a checkpoint.
The test set is never read here.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from .batching import EncodedDataset
from .checkpoint import save_checkpoint
from .data import Dataset, ReadReport, read_dataset
from .models import PRESETS, TextClassifier, preset_config
from .tokenizer import PAD_ID, UNK_ID, Vocab, file_sha256


@dataclass
class TrainSettings:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    seed: int = 0
    max_len: int = 200
    val_fraction: float = 0.05
    min_freq: int = 3
    clip: float = 5.0
    word_dropout: float = 0.0
    batching: str = "bucketed"  # "bucketed" (similar lengths together) or "random" (the lesson's DataLoader)


BATCHING_MODES = ("bucketed", "random")


def random_batches(n: int, batch_size: int, generator: torch.Generator):
    """Row indices in a fresh random order, cut into batches: lengths mix, as in the lesson's
    shuffled DataLoader, so each batch is padded to whichever headline in it is longest."""
    yield from torch.randperm(n, generator=generator).split(batch_size)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda requested but torch sees no CUDA device")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@torch.no_grad()
def evaluate_encoded(model: TextClassifier, data: EncodedDataset, device: torch.device,
                     batch_size: int = 512) -> tuple[float, float, torch.Tensor]:
    """Mean loss, accuracy, and predictions (in the dataset's row order)."""
    model.eval()
    preds = torch.empty(len(data), dtype=torch.long)
    total_loss = 0.0
    for index in data.bucketed_batches(batch_size):
        tokens, lengths, labels = data.batch(index)
        logits = model(tokens.to(device), lengths.to(device))
        total_loss += nn.functional.cross_entropy(logits, labels.to(device), reduction="sum").item()
        preds[index] = logits.argmax(-1).cpu()
    accuracy = (preds == data.labels).float().mean().item()
    return total_loss / len(data), accuracy, preds


def split_validation(n: int, fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    perm = torch.randperm(n, generator=generator)
    n_val = max(1, int(round(n * fraction)))
    return perm[n_val:], perm[:n_val]


def train_model(model: TextClassifier, train: EncodedDataset, val: EncodedDataset, settings: TrainSettings,
                generator: torch.Generator, device: torch.device, progress: bool = True) -> tuple[dict, list[dict]]:
    """Train in place; leaves the best-validation weights in `model`. Returns (best state, history)."""
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = math.ceil(len(train) / settings.batch_size)
    total_steps = settings.epochs * steps_per_epoch
    # Linear warm-down to 10% of the learning rate over the whole run.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - 0.9 * step / max(1, total_steps))
    loss_fn = nn.CrossEntropyLoss()
    history: list[dict] = []
    best_state, best_acc = None, -1.0
    for epoch in range(1, settings.epochs + 1):
        model.train()
        start = time.perf_counter()
        loss_sum, correct, seen = 0.0, 0, 0
        bar = tqdm(total=len(train), desc=f"epoch {epoch}/{settings.epochs}", unit="rows",
                   disable=not progress, leave=False, file=sys.stderr, mininterval=0.5)
        if settings.batching == "random":
            batches = random_batches(len(train), settings.batch_size, generator)
        else:
            batches = train.bucketed_batches(settings.batch_size, generator)
        for step, index in enumerate(batches):
            tokens, lengths, labels = train.batch(index)
            if settings.word_dropout > 0:
                # Replace a random share of real words by <unk>: the model learns to cope with
                # words it has never seen, as it must on new text.
                drop = (torch.rand(tokens.shape, generator=generator) < settings.word_dropout) & (tokens != PAD_ID)
                tokens = tokens.masked_fill(drop, UNK_ID)
            tokens, lengths, labels = tokens.to(device), lengths.to(device), labels.to(device)
            logits = model(tokens, lengths)
            loss = loss_fn(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), settings.clip)
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * len(index)
            correct += int((logits.argmax(-1) == labels).sum())
            seen += len(index)
            bar.update(len(index))
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}")
        bar.close()
        seconds = time.perf_counter() - start
        val_loss, val_acc, _ = evaluate_encoded(model, val, device)
        record = {
            "epoch": epoch,
            "train_loss": round(loss_sum / seen, 6),
            "train_accuracy": round(correct / seen, 6),
            "val_loss": round(val_loss, 6),
            "val_accuracy": round(val_acc, 6),
            "seconds": round(seconds, 3),
            "samples_per_s": round(seen / seconds, 1),
        }
        history.append(record)
        print(json.dumps(record), file=sys.stderr if not progress else sys.stdout, flush=True)
        if val_acc > best_acc:
            best_acc = val_acc
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return best_state, history


def synthetic_dataset(n: int, seed: int) -> Dataset:
    """An easy 4-class task: each class has its own keywords, mixed with shared filler words."""
    rng = random.Random(seed)
    keywords = [["war", "minister", "election", "troops"], ["match", "goal", "coach", "season"],
                ["shares", "profit", "market", "bank"], ["software", "chip", "internet", "space"]]
    filler = ["the", "a", "of", "in", "on", "says", "new", "after", "over", "report", "week", "year"]
    texts, labels = [], []
    for _ in range(n):
        label = rng.randrange(4)
        words = rng.choices(filler, k=rng.randint(3, 12)) + rng.choices(keywords[label], k=rng.randint(1, 3))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    report = ReadReport("<synthetic>", "generated", rows=n)
    return Dataset(texts, labels, report)


def parse_overrides(items: list[str]) -> dict:
    """['hidden_size=96', 'pooling=last'] -> {'hidden_size': 96, 'pooling': 'last'} (JSON values, else strings)."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --set expects KEY=VALUE, got {item!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainSettings()
    p = argparse.ArgumentParser(prog="python -m rnn_demo.train", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", required=True, choices=sorted(PRESETS), help="model family member to train")
    p.add_argument("--data", help="training file: AG News CSV, HF-style JSON lines or parquet")
    p.add_argument("--out", help="checkpoint folder to write (created if needed)")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help="passes over the training split")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help="rows per optimizer step")
    p.add_argument("--lr", type=float, default=defaults.lr, help="Adam learning rate (decays linearly to 10%%)")
    p.add_argument("--weight-decay", type=float, default=defaults.weight_decay, help="Adam weight decay")
    p.add_argument("--dropout", type=float, default=None, help="override the preset's dropout")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model config value of the preset, e.g. --set hidden_size=96 (repeatable)")
    p.add_argument("--word-dropout", type=float, default=defaults.word_dropout,
                   help="share of words replaced by <unk> in each training batch")
    p.add_argument("--batching", default=defaults.batching, choices=BATCHING_MODES,
                   help="bucketed: similar lengths per batch (fast); random: the lesson's shuffled "
                        "batches, each padded to its longest headline")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed for split, init and shuffling")
    p.add_argument("--max-len", type=int, default=defaults.max_len, help="tokens kept per text")
    p.add_argument("--val-fraction", type=float, default=defaults.val_fraction,
                   help="share of the training file held out to pick the best epoch")
    p.add_argument("--min-freq", type=int, default=defaults.min_freq,
                   help="a word needs this many occurrences to enter the vocabulary")
    p.add_argument("--vocab", help="reuse this tokenizer.json instead of building one (keeps vocabularies shared)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where to train")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--skip-bad", action="store_true", help="skip malformed rows (counted) instead of stopping")
    p.add_argument("--no-progress", action="store_true", help="no progress bar; one JSON line per epoch")
    p.add_argument("--dry-run", action="store_true",
                   help="train briefly on tiny generated data (seconds); --data is not needed")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             weight_decay=args.weight_decay, seed=args.seed, max_len=args.max_len,
                             val_fraction=args.val_fraction, min_freq=args.min_freq,
                             word_dropout=args.word_dropout, batching=args.batching)
    if args.dry_run:
        dataset = synthetic_dataset(1600, args.seed)
        settings.epochs = min(settings.epochs, 4)
        settings.min_freq = 1
        settings.val_fraction = 0.2
        data_info = {"path": "<synthetic>", "format": "generated", "rows": len(dataset), "sha256": None}
    else:
        if not args.data:
            raise SystemExit("error: --data is required (or use --dry-run)")
        dataset = read_dataset(args.data, skip_bad=args.skip_bad)
        data_info = {"path": Path(args.data).name, "format": dataset.report.format, "rows": len(dataset),
                     "skipped_rows": len(dataset.report.skipped), "sha256": file_sha256(args.data)}
    if not args.out and not args.dry_run:
        raise SystemExit("error: --out is required")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rnn_demo_dry_run_"))
    print(dataset.report.summary(), file=sys.stderr)

    generator = seed_everything(settings.seed)
    device = resolve_device(args.device)
    vocab = Vocab.load(args.vocab) if args.vocab else Vocab.build(dataset.texts, min_freq=settings.min_freq)
    encoded = EncodedDataset(vocab, dataset.texts, dataset.labels, settings.max_len)
    train_idx, val_idx = split_validation(len(encoded), settings.val_fraction, generator)
    train, val = encoded.subset(train_idx), encoded.subset(val_idx)
    overrides = parse_overrides(args.set)
    if args.dropout is not None:
        overrides["dropout"] = args.dropout
    config = preset_config(args.preset, len(vocab), **overrides)
    model = TextClassifier(config)
    print(f"{args.preset}: {model.num_parameters():,} parameters, vocabulary {len(vocab):,}, "
          f"train {len(train):,} / val {len(val):,} rows, device {device}", file=sys.stderr)

    start = time.perf_counter()
    _, history = train_model(model, train, val, settings, generator, device, progress=not args.no_progress)
    total = time.perf_counter() - start
    best = max(history, key=lambda r: r["val_accuracy"])
    metrics = {
        "preset": args.preset,
        "best_epoch": best["epoch"],
        "best_val_accuracy": best["val_accuracy"],
        "epochs": history,
        "train_seconds": round(total, 2),
        "samples_per_s": round(sum(r["samples_per_s"] for r in history) / len(history), 1),
        "data": {**data_info, "train_rows": len(train), "val_rows": len(val),
                 "unknown_token_rate": round(encoded.unknown_rate, 5)},
        "settings": {**vars(settings), "dropout": config.dropout},
        "vocab_size": len(vocab),
        "num_parameters": model.num_parameters(),
        "environment": {"torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads(),
                        "machine": platform.machine(), "python": platform.python_version()},
    }
    model.cpu()
    save_checkpoint(out, model, vocab, args.preset, metrics)
    print(f"best epoch {best['epoch']}: val accuracy {best['val_accuracy']:.4f}; "
          f"{total:.1f}s; checkpoint written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
