"""Batch classification CLI: formats, malformed lines with line numbers, --skip-bad, outputs."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from export.classify import main
from export.onnx_export import export_checkpoint
from export.runtime import OnnxPredictor
from rnn_demo.checkpoint import load_checkpoint, save_checkpoint
from rnn_demo.models import TextClassifier, preset_config
from rnn_demo.tokenizer import Vocab

ROOT = Path(__file__).resolve().parents[1]
GOOD = ["stocks fall as oil climbs", "yankees win again", "new chip for phones", "talks resume in geneva"]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cls")
    torch.manual_seed(0)
    words = sorted({w for line in GOOD for w in line.split()})
    vocab = Vocab(("<pad>", "<unk>", *words))
    model = TextClassifier(preset_config("gru", vocab_size=len(vocab))).eval()
    ckpt = load_checkpoint(save_checkpoint(root / "gru", model, vocab, "gru", metrics={}))
    return export_checkpoint(ckpt, root / "exports" / "gru.onnx").path


def _expected(model_path: Path, texts: list[str]) -> np.ndarray:
    return OnnxPredictor(model_path, device="cpu").predict_proba(texts)


def test_txt_with_malformed_line_fails_with_line_number(model_path, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_bytes(("\n".join(GOOD[:2]) + "\n").encode() + b"caf\xe9 au lait\n" + (GOOD[2] + "\n").encode())
    out = tmp_path / "out.csv"
    code = main(["--model", str(model_path), "--input", str(src), "--output", str(out), "--device", "cpu",
                 "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"{src}:3: not valid UTF-8" in err and "--skip-bad" in err
    assert not out.exists() and not list(tmp_path.glob("*.tmp")), "no partial output on failure"


def test_txt_skip_bad_writes_csv(model_path, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text(GOOD[0] + "\n   \n" + GOOD[1] + "\n" + GOOD[2] + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    code = main(["--model", str(model_path), "--input", str(src), "--output", str(out), "--device", "cpu",
                 "--skip-bad", "--batch-size", "2"])
    assert code == 0
    err = capsys.readouterr().err
    assert f"skipped {src}:2: empty headline" in err and "classified 3 headlines" in err
    assert "CPUExecutionProvider" in err
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [int(r["line"]) for r in rows] == [1, 3, 4]
    texts = [r["text"] for r in rows]
    expected = _expected(model_path, texts)
    class_names = OnnxPredictor(model_path, device="cpu").class_names
    got = np.array([[float(r[f"p_{c}"]) for c in class_names] for r in rows])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert [r["label"] for r in rows] == [class_names[i] for i in expected.argmax(1)]


def test_jsonl_in_and_out(model_path, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([
        json.dumps({"text": GOOD[0], "id": 7}),
        json.dumps(GOOD[1]),
        '{"text": "unterminated',
        json.dumps({"title": "no text field"}),
        json.dumps({"text": 42}),
        json.dumps({"text": GOOD[3]}),
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["--model", str(model_path), "--input", str(src), "--output", str(out), "--skip-bad",
                 "--no-progress", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert f"{src}:3: not valid JSON" in err
    assert f"{src}:4: JSON object has no 'text' field" in err
    assert f"{src}:5: text must be a JSON string" in err
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 6]
    probs = np.array([list(r["probabilities"].values()) for r in rows])
    np.testing.assert_allclose(probs, _expected(model_path, [GOOD[0], GOOD[1], GOOD[3]]), atol=1e-6)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_csv_column_and_bad_row(model_path, tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text('id,headline\n1,"stocks fall, oil climbs"\n2,yankees,win\n3,new chip\n', encoding="utf-8")
    args = ["--model", str(model_path), "--input", str(src), "--device", "cpu", "--no-progress"]
    assert main(args) == 1  # default column "text" is missing
    assert "no column 'text'" in capsys.readouterr().err
    assert main(args + ["--text-column", "headline"]) == 1
    assert f"{src}:3: expected 2 CSV fields, found 3" in capsys.readouterr().err
    assert main(args + ["--text-column", "headline", "--skip-bad", "--output-format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["line"], r["text"]) for r in rows] == [(2, "stocks fall, oil climbs"), (4, "new chip")]


def test_batch_size_does_not_change_results(model_path, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(GOOD * 5) + "\n", encoding="utf-8")
    outputs = []
    for batch in ("1", "7", "64"):
        out = tmp_path / f"o{batch}.jsonl"
        assert main(["--model", str(model_path), "--input", str(src), "--output", str(out),
                     "--batch-size", batch, "--no-progress", "--device", "cpu"]) == 0
        outputs.append([json.loads(x)["probabilities"] for x in out.read_text().splitlines()])
    for other in outputs[1:]:
        np.testing.assert_allclose([list(p.values()) for p in other], [list(p.values()) for p in outputs[0]],
                                   atol=1e-5)


def test_module_entry_point(model_path, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text(GOOD[0] + "\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "export.classify", "--model", str(model_path),
                           "--input", str(src), "--device", "cpu"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("line,text,label,p_")
    assert "1/1" in proc.stderr  # the tqdm progress bar ran
