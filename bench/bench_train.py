"""Training throughput: each preset with rnn_demo's loop vs the lesson's own loop, same data.

    python bench/bench_train.py --data ../shared/data/ag_news/train_hf.jsonl --test ../shared/data/ag_news/test.csv

The lesson loop is rebuilt from the lesson's description: DataLoader with batch 16 and
shuffling, a collate function that tokenizes and pads every batch in Python, the packed
LSTM (pack_padded_sequence), Adam at lr 1e-3, one epoch. rnn_demo's loop tokenizes once,
cuts length-bucketed batches of 64 from one pre-padded tensor, and uses the length-aware
padded model. Both train `lesson-lstm-packed`-sized models (embed 64, hidden 32) for the
same number of epochs on the same rows, then are scored on the same test file.
Prints a table and writes JSON (default bench_results/train.json).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python bench/NAME.py` from anywhere

import argparse
import json
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


@torch.no_grad()
def lesson_accuracy(model: nn.Module, test: EncodedDataset) -> float:
    model.eval()
    correct = 0
    for index in test.bucketed_batches(512):
        tokens, lengths, labels = test.batch(index)
        correct += int((model(tokens, lengths).argmax(-1) == labels).sum())
    return correct / len(test)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/ag_news/train_hf.jsonl", help="training rows")
    p.add_argument("--test", default="../shared/data/ag_news/test.csv", help="file scored after training")
    p.add_argument("--vocab", default="checkpoints/lesson-lstm-packed/tokenizer.json", help="shared tokenizer")
    p.add_argument("--epochs", type=int, default=1, help="epochs for every run")
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

    model, rate = lesson_epoch(vocab, train_rows.texts, train_rows.labels, args.epochs, args.seed)
    results.append({"run": "lesson loop (batch 16, packed LSTM)", "preset": "lesson-lstm-packed",
                    "samples_per_s": round(rate, 1), "test_accuracy": round(lesson_accuracy(model, test), 4)})
    print(json.dumps(results[-1]), flush=True)

    start = time.perf_counter()
    train_all = EncodedDataset(vocab, train_rows.texts, train_rows.labels, 200)
    encode_seconds = time.perf_counter() - start
    for name in args.presets:
        generator = torch.Generator().manual_seed(args.seed)
        torch.manual_seed(args.seed)
        model = TextClassifier(preset_config(name, len(vocab)))
        settings = TrainSettings(epochs=args.epochs, seed=args.seed)
        # Validation here only feeds the per-epoch log; the test file is scored once, afterwards.
        monitor = train_all.subset(torch.arange(min(500, len(train_all))))
        _, history = train_model(model, train_all, monitor, settings, generator, torch.device("cpu"), progress=False)
        seconds = sum(r["seconds"] for r in history)
        rate = len(train_all) * args.epochs / (seconds + encode_seconds)
        _, acc, _ = evaluate_encoded(model, test, torch.device("cpu"))
        results.append({"run": "rnn_demo loop (batch 64, bucketed)", "preset": name,
                        "samples_per_s": round(rate, 1), "test_accuracy": round(acc, 4)})
        print(json.dumps(results[-1]), flush=True)

    base = results[0]["samples_per_s"]
    print(f"\n{args.epochs} epoch(s) on {len(train_rows):,} rows of {Path(args.data).name}; "
          f"test: {len(test):,} rows; torch {torch.__version__}, {args.threads} threads, {platform.processor() or platform.machine()}")
    print(f"{'run':<38} {'preset':<20} {'samples/s':>10} {'x lesson':>9} {'test acc':>9}")
    for r in results:
        print(f"{r['run']:<38} {r['preset']:<20} {r['samples_per_s']:>10,.0f} {r['samples_per_s'] / base:>8.1f}x {r['test_accuracy']:>9.4f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"epochs": args.epochs, "rows": len(train_rows), "threads": args.threads,
                               "torch": torch.__version__, "results": results}, indent=2))


if __name__ == "__main__":
    main()
