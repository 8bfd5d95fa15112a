"""Training throughput: each preset with rnn_demo's loop vs the lesson's own loop, same data.

    python bench/bench_train.py --data ../shared/data/ag_news/train_hf.jsonl --test ../shared/data/ag_news/test.csv

The lesson loop is rebuilt from the lesson's description: DataLoader with batch 16 and
shuffling, a collate function that tokenizes and pads every batch in Python, the packed
LSTM (pack_padded_sequence), Adam at lr 1e-3, one epoch. rnn_demo's loop tokenizes once,
cuts length-bucketed batches of 64 from one pre-padded tensor, and uses the length-aware
padded model. Reported:
- the lesson loop: samples/s, seconds and test accuracy after its one epoch;
- `lesson-lstm-packed` trained with the shipped recipe (batch 64, dropout 0.3, 12 epochs):
  samples/s, and its test accuracy after every epoch, to show when it matches the lesson
  loop's accuracy and where it ends (a measurement; checkpoints select on validation rows);
- one epoch of every preset with rnn_demo's loop: samples/s.
Prints a table and writes JSON (default bench_results/train.json).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python bench/NAME.py` from anywhere

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.data import DataLoader

from rnn_demo.batching import EncodedDataset
from rnn_demo.data import read_dataset
from rnn_demo.models import PRESETS, TextClassifier, preset_config
from rnn_demo.tokenizer import Vocab
from rnn_demo.train import TrainSettings, evaluate_encoded, train_model


class LessonPackedLSTM(nn.Module):
    """The lesson's LSTMPackedClassifier: embedding -> packed LSTM -> h[-1] -> linear."""

    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden: int = 32, classes: int = 4) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = nn.LSTM(embed_dim, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.rnn(packed)
        return self.fc(h[-1])


def lesson_epoch(vocab: Vocab, texts, labels, epochs: int, seed: int) -> tuple[nn.Module, float]:
    """Train the lesson's way; return the model and samples/s."""
    torch.manual_seed(seed)
    model = LessonPackedLSTM(len(vocab))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def collate(batch):  # tokenizes and pads in Python, batch by batch, as the lesson does
        ids = [torch.tensor(vocab.encode(text)[:200] or [1]) for text, _ in batch]
        lengths = torch.tensor([len(x) for x in ids])
        tokens = torch.stack([nn.functional.pad(x, (0, int(lengths.max()) - len(x))) for x in ids])
        return torch.tensor([label for _, label in batch]), tokens, lengths

    loader = DataLoader(list(zip(texts, labels)), batch_size=16, shuffle=True, collate_fn=collate,
                        generator=torch.Generator().manual_seed(seed))
    seen, start = 0, time.perf_counter()
    model.train()
    for _ in range(epochs):
        for y, tokens, lengths in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(tokens, lengths), y)
            loss.backward()
            optimizer.step()
            seen += len(y)
    return model, seen / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/ag_news/train_hf.jsonl", help="training rows")
    p.add_argument("--test", default="../shared/data/ag_news/test.csv", help="file scored after training")
    p.add_argument("--vocab", default="checkpoints/lesson-lstm-packed/tokenizer.json", help="shared tokenizer")
    p.add_argument("--recipe-epochs", type=int, default=12, help="epochs of the rnn_demo recipe run")
    p.add_argument("--presets", nargs="*", default=list(PRESETS), help="presets to time with rnn_demo's loop")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0, help="seed for every run")
    p.add_argument("--out", default="bench_results/train.json", help="JSON output")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    vocab = Vocab.load(args.vocab)
    train_rows = read_dataset(args.data)
    test_rows = read_dataset(args.test)
    test = EncodedDataset(vocab, test_rows.texts, test_rows.labels, 200)
    results = []

    load_before = os.getloadavg()[0]
    model, rate = lesson_epoch(vocab, train_rows.texts, train_rows.labels, 1, args.seed)
    results.append({"run": "lesson loop (batch 16, 1 epoch)", "preset": "lesson-lstm-packed",
                    "samples_per_s": round(rate, 1), "seconds": round(len(train_rows) / rate, 1),
                    "test_accuracy": round(evaluate_encoded(model, test, torch.device("cpu"))[1], 4)})
    print(json.dumps(results[-1]), flush=True)

    start = time.perf_counter()
    train_all = EncodedDataset(vocab, train_rows.texts, train_rows.labels, 200)
    encode_seconds = time.perf_counter() - start

    # lesson-lstm-packed with the shipped recipe; after every epoch it is scored on the test
    # file (a measurement only: shipped checkpoints pick their epoch on validation rows).
    torch.manual_seed(args.seed)
    model = TextClassifier(preset_config("lesson-lstm-packed", len(vocab)))
    settings = TrainSettings(epochs=args.recipe_epochs, seed=args.seed)
    _, history = train_model(model, train_all, test, settings, torch.Generator().manual_seed(args.seed),
                             torch.device("cpu"), progress=False)
    elapsed, curve = encode_seconds, []
    for record in history:
        elapsed += record["seconds"]
        curve.append({"epoch": record["epoch"], "seconds": round(elapsed, 1), "test_accuracy": record["val_accuracy"]})
    rate = len(train_all) * len(history) / elapsed
    lesson_acc, lesson_seconds = results[0]["test_accuracy"], results[0]["seconds"]
    match = next((c for c in curve if c["test_accuracy"] >= lesson_acc), None)
    results.append({"run": f"rnn_demo recipe ({args.recipe_epochs} epochs)", "preset": "lesson-lstm-packed",
                    "samples_per_s": round(rate, 1), "test_accuracy": curve[-1]["test_accuracy"],
                    "seconds": curve[-1]["seconds"], "curve": curve, "matches_lesson_at": match})
    print(json.dumps(results[-1]), flush=True)

    for name in args.presets:  # throughput of one epoch for every preset
        generator = torch.Generator().manual_seed(args.seed)
        torch.manual_seed(args.seed)
        model = TextClassifier(preset_config(name, len(vocab)))
        monitor = train_all.subset(torch.arange(min(500, len(train_all))))  # feeds the epoch log only
        _, history = train_model(model, train_all, monitor, TrainSettings(epochs=1, seed=args.seed), generator,
                                 torch.device("cpu"), progress=False)
        results.append({"run": "rnn_demo loop, 1 epoch", "preset": name,
                        "samples_per_s": round(len(train_all) / (history[0]["seconds"] + encode_seconds), 1),
                        "seconds": round(history[0]["seconds"] + encode_seconds, 1)})
        print(json.dumps(results[-1]), flush=True)

    base = results[0]["samples_per_s"]
    print(f"\nTraining on {len(train_rows):,} rows of {Path(args.data).name}; test: {len(test):,} rows; "
          f"torch {torch.__version__}, {args.threads} threads, {platform.machine()}, "
          f"load average before: {load_before:.2f}")
    print(f"{'run':<36} {'preset':<20} {'samples/s':>10} {'x lesson':>9} {'seconds':>8} {'test acc':>9}")
    for r in results:
        acc = f"{r['test_accuracy']:.4f}" if "test_accuracy" in r else "-"
        print(f"{r['run']:<36} {r['preset']:<20} {r['samples_per_s']:>10,.0f} {r['samples_per_s'] / base:>8.1f}x "
              f"{r['seconds']:>8.1f} {acc:>9}")
    print(f"\nlesson loop: {lesson_acc:.4f} test accuracy after 1 epoch, {lesson_seconds:.1f} s")
    if match:
        print(f"rnn_demo recipe: {match['test_accuracy']:.4f} after epoch {match['epoch']}, {match['seconds']:.1f} s "
              f"({lesson_seconds / match['seconds']:.1f}x sooner); {curve[-1]['test_accuracy']:.4f} after "
              f"{curve[-1]['epoch']} epochs, {curve[-1]['seconds']:.1f} s")
    else:
        print("rnn_demo recipe never reached the lesson loop's accuracy")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": len(train_rows), "threads": args.threads,
                               "torch": torch.__version__, "results": results}, indent=2))


if __name__ == "__main__":
    main()
