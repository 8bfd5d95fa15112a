import json

import pytest
import torch
from safetensors.torch import load_file

from rnn_demo import evaluate, train
from rnn_demo.checkpoint import load_checkpoint


def run_dry(out, seed=0):
    assert train.main(["--preset", "lesson-lstm-packed", "--dry-run", "--no-progress", "--seed", str(seed),
                       "--out", str(out)]) == 0
    return json.loads((out / "metrics.json").read_text())


def test_dry_run_learns_the_easy_task(tmp_path):
    metrics = run_dry(tmp_path / "a")
    # 4 balanced classes: chance is 0.25
    assert metrics["best_val_accuracy"] >= 0.6
    assert len(metrics["epochs"]) >= 1 and metrics["data"]["format"] == "generated"
    for record in metrics["epochs"]:
        assert {"train_loss", "train_accuracy", "val_accuracy", "seconds", "samples_per_s"} <= set(record)
    load_checkpoint(tmp_path / "a")


def test_training_is_deterministic_for_a_seed(tmp_path):
    run_dry(tmp_path / "a", seed=3)
    run_dry(tmp_path / "b", seed=3)
    a, b = load_file(str(tmp_path / "a/model.safetensors")), load_file(str(tmp_path / "b/model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_train_reports_bad_data_with_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text('"1","a","b"\n"7","c","d"\n')
    with pytest.raises(Exception, match=r"bad\.csv:2"):
        train.main(["--preset", "gru", "--data", str(bad), "--out", str(tmp_path / "o")])


def test_evaluate_json_schema(tmp_path, capsys):
    run_dry(tmp_path / "ck")
    data = tmp_path / "tiny.csv"
    data.write_text('"1","war minister","troops election"\n"2","match","goal coach"\n'
                    '"3","shares profit","bank market"\n"4","chip software","internet space"\n'
                    '"2","season goal","the coach"\n')
    assert evaluate.main(["--checkpoint", str(tmp_path / "ck"), "--data", str(data), "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)  # exactly one JSON object
    assert out.strip().count("\n") == 0
    assert report["n"] == 5
    assert 0.0 <= report["accuracy"] <= 1.0
    assert set(report["per_class"]) == {"World", "Sports", "Business", "Sci/Tech"}
    for cls in report["per_class"].values():
        assert {"precision", "recall", "f1", "support"} <= set(cls)
    confusion = report["confusion"]
    assert len(confusion) == 4 and all(len(r) == 4 for r in confusion)
    assert sum(map(sum, confusion)) == 5
    assert sum(confusion[i][i] for i in range(4)) / 5 == pytest.approx(report["accuracy"])


def test_classification_report_numbers():
    labels = torch.tensor([0, 0, 1, 1, 2, 3])
    preds = torch.tensor([0, 1, 1, 1, 3, 3])
    r = evaluate.classification_report(labels, preds, ["a", "b", "c", "d"])
    assert r["accuracy"] == pytest.approx(4 / 6, abs=1e-6)
    assert r["per_class"]["b"]["precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert r["per_class"]["a"]["recall"] == pytest.approx(0.5)
    assert r["per_class"]["c"]["f1"] == 0.0
    assert r["confusion"][0] == [1, 1, 0, 0]


def test_evaluate_reports_broken_checkpoint(tmp_path, capsys):
    run_dry(tmp_path / "ck")
    (tmp_path / "ck/model.safetensors").write_bytes(b"garbage")
    data = tmp_path / "t.csv"
    data.write_text('"1","a","b"\n')
    assert evaluate.main(["--checkpoint", str(tmp_path / "ck"), "--data", str(data)]) == 2
    assert "model.safetensors" in capsys.readouterr().err
