"""Same-data peer: a bag-of-embeddings classifier vs the shipped recurrent models.

    python bench/compare_baseline.py --data ../shared/data/ag_news/train_hf.jsonl --test ../shared/data/ag_news/test.csv

Trains the classic EmbeddingBag text classifier (mean of word embeddings -> linear; the
lesson's bag-of-embeddings model) on the same rows, with the same tokenizer, validation split,
epochs and best-epoch rule as `rnn_demo.train`, then scores it and every shipped checkpoint on
the same test file in this one run. The same recipe is shipped as checkpoints/bag-of-embeddings
(`python -m rnn_demo.train --preset bag-of-embeddings`); this script keeps an independent
nn.EmbeddingBag implementation as a cross-check of it.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python bench/NAME.py` from anywhere

import argparse
import json
from pathlib import Path

import torch
from torch import nn

from rnn_demo.batching import EncodedDataset
from rnn_demo.checkpoint import discover_checkpoints, load_checkpoint
from rnn_demo.data import read_dataset
from rnn_demo.evaluate import evaluate_checkpoint
from rnn_demo.tokenizer import PAD_ID, Vocab
from rnn_demo.train import TrainSettings, evaluate_encoded, seed_everything, split_validation, train_model


class BagOfEmbeddings(nn.Module):
    """Mean of the word embeddings (pads excluded) -> linear."""

    def __init__(self, vocab_size: int, embed_dim: int = 64, classes: int = 4) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(vocab_size, embed_dim, mode="mean", padding_idx=PAD_ID)
        self.fc = nn.Linear(embed_dim, classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.fc(self.bag(tokens))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/ag_news/train_hf.jsonl", help="training rows")
    p.add_argument("--test", default="../shared/data/ag_news/test.csv", help="test file for everyone")
    p.add_argument("--checkpoints", default="checkpoints", help="folder of shipped checkpoints")
    p.add_argument("--epochs", type=int, default=10, help="baseline epochs (best by validation)")
    p.add_argument("--seed", type=int, default=0, help="seed (same split rule as training)")
    p.add_argument("--out", default="bench_results/baseline.json", help="JSON output")
    args = p.parse_args()

    folders = discover_checkpoints(args.checkpoints)
    vocab = Vocab.load(folders[0] / "tokenizer.json")
    settings = TrainSettings(epochs=args.epochs, seed=args.seed)
    generator = seed_everything(args.seed)
    rows = read_dataset(args.data)
    encoded = EncodedDataset(vocab, rows.texts, rows.labels, settings.max_len)
    train_idx, val_idx = split_validation(len(encoded), settings.val_fraction, generator)
    baseline = BagOfEmbeddings(len(vocab))
    _, history = train_model(baseline, encoded.subset(train_idx), encoded.subset(val_idx), settings,
                             generator, torch.device("cpu"), progress=False)
    test_rows = read_dataset(args.test)
    test = EncodedDataset(vocab, test_rows.texts, test_rows.labels, settings.max_len)
    _, base_acc, _ = evaluate_encoded(baseline, test, torch.device("cpu"))
    results = [{"model": "bag-of-embeddings (nn.EmbeddingBag, trained here)", "test_accuracy": round(base_acc, 4),
                "best_epoch": max(history, key=lambda r: r["val_accuracy"])["epoch"]}]
    for folder in folders:
        report = evaluate_checkpoint(load_checkpoint(folder), args.test)
        results.append({"model": folder.name, "test_accuracy": report["accuracy"]})

    best = max(results[1:], key=lambda r: r["test_accuracy"])
    print(f"\nTraining rows: {len(rows):,} ({Path(args.data).name}); test rows: {len(test):,} ({Path(args.test).name})")
    print(f"{'model':<44} {'test accuracy':>13}")
    for r in results:
        print(f"{r['model']:<44} {r['test_accuracy']:>13.4f}")
    verdict = "at or above" if best["test_accuracy"] >= base_acc else "BELOW"
    print(f"\nbest recurrent model {best['model']} ({best['test_accuracy']:.4f}) is {verdict} the baseline ({base_acc:.4f})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"train_rows": len(rows), "test_rows": len(test), "results": results}, indent=2))


if __name__ == "__main__":
    main()
