"""Batch classification CLI: formats, malformed lines with line numbers, --skip-bad, outputs,
length-sorted streaming in input order, and the data-safety cases (the batch CLI never loses or half-reads data)."""
from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from export.batch_io import Writer
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
    assert "100%" in proc.stderr  # the tqdm progress bar (bytes of input) ran to the end


# -- length-sorted streaming chunks, results in input order ----------------------
@pytest.fixture(scope="module")
def shipped_model(tmp_path_factory):
    """A shipped checkpoint, exported: real vocabulary, real lengths."""
    root = tmp_path_factory.mktemp("shipped")
    ckpt = load_checkpoint(ROOT / "checkpoints" / "lesson-lstm-packed")
    return ckpt, export_checkpoint(ckpt, root / "lesson-lstm-packed.onnx").path


def _shuffled_headlines(vocab: Vocab, n: int, seed: int = 0) -> list[str]:
    """Headlines of 1..80 words (known words, unknown words, punctuation), in random order."""
    rng = random.Random(seed)
    words = list(vocab.tokens[2:3000]) + ["zzunknownzz", "qwertyuiop", "Wall", "St.", "(AP)", "don't"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.choice([1, 2, 5, 9, 17, 33, 80])))
             for _ in range(n)]
    rng.shuffle(texts)
    return texts


def test_sorted_streaming_matches_unsorted_reference_in_input_order(shipped_model, tmp_path, capsys):
    ckpt, onnx_path = shipped_model
    texts = _shuffled_headlines(ckpt.vocab, 1500)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    out = tmp_path / "out.csv"
    # several chunks (300 rows each), each sorted by length into batches of 64
    assert main(["--model", str(onnx_path), "--input", str(src), "--output", str(out), "--device", "cpu",
                 "--chunk-size", "300", "--batch-size", "64", "--no-progress", "--threads", "1"]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert [int(r["line"]) for r in rows] == list(range(1, len(texts) + 1))
    assert [r["text"] for r in rows] == texts
    # unsorted reference: file-order batches of 256 through onnxruntime, and the PyTorch model
    predictor = OnnxPredictor(onnx_path, device="cpu")
    reference = np.concatenate([predictor.predict_proba(texts[i: i + 256]) for i in range(0, len(texts), 256)])
    got = np.array([[float(r[f"p_{c}"]) for c in predictor.class_names] for r in rows])
    np.testing.assert_allclose(got, reference, atol=2e-6)
    with torch.inference_mode():
        from rnn_demo.fast_tokenizer import encode_batch
        torch_labels = np.concatenate([ckpt.model(*encode_batch(ckpt.vocab, texts[i: i + 256], 200)).argmax(1).numpy()
                                       for i in range(0, len(texts), 256)])
    assert [r["label"] for r in rows] == [ckpt.class_names[i] for i in torch_labels]
    lengths = [len(ckpt.vocab.encode(t)) for t in texts]
    assert lengths != sorted(lengths), "the input is not already sorted by length"


def test_worker_threads_and_sequential_runs_write_identical_bytes(model_path, tmp_path):
    src = tmp_path / "in.txt"
    rng = random.Random(1)
    src.write_text("".join(" ".join(rng.choice(GOOD).split()[: rng.randint(1, 4)] * rng.randint(1, 9)) + "\n"
                           for _ in range(700)), encoding="utf-8")
    outputs = []
    # 1 and 3 workers (3 on a 2-core machine: more workers than cores must not reorder rows),
    # and everything in one thread; chunks of 128 rows finish out of order across workers
    for n, extra in enumerate((["--threads", "1"], ["--threads", "3"], ["--no-overlap"])):
        for fmt in ("jsonl", "csv"):
            out = tmp_path / f"out{n}.{fmt}"
            assert main(["--model", str(model_path), "--input", str(src), "--output", str(out), "--device", "cpu",
                         "--chunk-size", "128", "--batch-size", "32", "--no-progress", *extra]) == 0
            outputs.append(out.read_bytes())
    assert outputs[0::2] == [outputs[0]] * 3 and outputs[1::2] == [outputs[1]] * 3
    assert [json.loads(x)["line"] for x in outputs[0].decode().splitlines()] == list(range(1, 701))


def test_csv_output_round_trips_awkward_text(model_path, tmp_path):
    texts = ['He said "no", then left', "a,b,c", "line one\nline two", "cr\r\nlf", "  padded  ",
             '"', '""quoted""', "tab\there", "Ünïcode – 東京 🚀", "%d %s %.6f %%", "back\\slash"]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    out = tmp_path / "out.csv"
    assert main(["--model", str(model_path), "--input", str(src), "--output", str(out), "--device", "cpu",
                 "--no-progress"]) == 0
    rows = list(csv.reader(out.open(encoding="utf-8", newline="")))
    assert rows[0][:3] == ["line", "text", "label"] and len(rows) == len(texts) + 1
    assert [r[1] for r in rows[1:]] == texts
    assert [int(r[0]) for r in rows[1:]] == list(range(1, len(texts) + 1))
    for row in rows[1:]:
        assert len(row) == len(rows[0])
        probs = [float(x) for x in row[3:]]
        assert abs(sum(probs) - 1) < 1e-5 and row[2] == rows[0][3 + probs.index(max(probs))][2:]


def test_csv_writer_quotes_class_names_that_need_it():
    stream = io.StringIO()
    writer = Writer(stream, "csv", ("a,b", 'say "x"', "plain"))
    writer.write([7, 8], ["t1", "t2"], np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], dtype=np.float32))
    rows = list(csv.reader(io.StringIO(stream.getvalue())))
    assert rows[1][:3] == ["7", "t1", "a,b"] and rows[2][:3] == ["8", "t2", "plain"]
    assert rows[1][3:] == ["0.700000", "0.200000", "0.100000"]


# -- the batch CLI never loses or half-reads data ------------------------
def _run(model_path, *args: str) -> int:
    return main(["--model", str(model_path), "--device", "cpu", "--no-progress", *map(str, args)])


def test_refuses_output_that_is_the_input_by_any_path(model_path, tmp_path, capsys):
    src = tmp_path / "data" / "in.txt"
    src.parent.mkdir()
    content = ("\n".join(GOOD) + "\n").encode()
    src.write_bytes(content)
    (tmp_path / "link.txt").symlink_to(src)
    os.link(src, tmp_path / "hard.txt")
    relative = Path(os.path.relpath(src, Path.cwd()))
    for output in (src, tmp_path / "data" / ".." / "data" / "in.txt", relative, tmp_path / "link.txt",
                   tmp_path / "hard.txt"):
        for extra in ([], ["--overwrite"]):
            assert _run(model_path, "--input", src, "--output", output, *extra) == 2
            assert "is the input file" in capsys.readouterr().err
    assert src.read_bytes() == content


def test_refuses_to_overwrite_without_flag(model_path, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(GOOD) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    out.write_text("precious\n")
    assert _run(model_path, "--input", src, "--output", out) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_text() == "precious\n"
    assert _run(model_path, "--input", src, "--output", out, "--overwrite") == 0
    assert out.read_text().startswith("line,text,label")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_csv_multiline_quoted_fields_are_read_whole(model_path, tmp_path, capsys):
    src = tmp_path / "in.csv"
    multi = "stocks fall\nas oil climbs,\r\nyankees win"
    src.write_bytes(('id,text\r\n1,"' + multi.replace("\n", "\n") + '"\r\n2,new chip\r\n'
                     '3,"talks ""resume""\nin geneva"\r\n').encode())
    out = tmp_path / "out.jsonl"
    assert _run(model_path, "--input", src, "--output", out) == 0
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["text"]) for r in rows] == [(2, multi), (5, "new chip"),
                                                      (6, 'talks "resume"\nin geneva')]
    probs = np.array([list(r["probabilities"].values()) for r in rows])
    np.testing.assert_allclose(probs, _expected(model_path, [r["text"] for r in rows]), atol=1e-6)


def test_csv_errors_name_the_line_where_the_row_starts(model_path, tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text('id,text\n1,"two\nlines"\n2,"three\nline\nrow",extra\n3,ok\n4,"stray "quote\n5,fine\n',
                   encoding="utf-8")
    assert _run(model_path, "--input", src) == 1
    assert f"{src}:4: expected 2 CSV fields, found 3" in capsys.readouterr().err
    assert _run(model_path, "--input", src, "--skip-bad", "--output-format", "jsonl") == 0
    captured = capsys.readouterr()
    assert f"{src}:8: malformed CSV" in captured.err
    assert [json.loads(x)["line"] for x in captured.out.splitlines()] == [2, 7, 9]
    # an unterminated quote would swallow every following row: an error at its first line, also
    # with --skip-bad (skipping it would lose the rows after it)
    src.write_text('id,text\n1,fine\n2,"never closed\n3,lost\n4,lost\n', encoding="utf-8")
    for extra in ([], ["--skip-bad"]):
        assert _run(model_path, "--input", src, *extra) == 1
        captured = capsys.readouterr()
        assert f"{src}:3: a quoted CSV field opens on this line and never closes" in captured.err
        assert "lines 3-5, to the end of the file" in captured.err and captured.out == ""


def test_fails_when_no_row_is_valid(model_path, tmp_path, capsys):
    binary = tmp_path / "in.bin"
    binary.write_bytes(b"\x89PNG\r\n" + bytes(range(128, 256)) * 40 + b"\n\xff\xfe\x00\n\x80\x81\n")  # no UTF-8 line
    out = tmp_path / "out.csv"
    for fmt in ("txt", "jsonl", "csv"):
        assert _run(model_path, "--input", binary, "--format", fmt, "--skip-bad", "--output", out) == 1
        err = capsys.readouterr().err
        assert "no valid row" in err or "cannot read the CSV header" in err or "no column" in err, err
        assert not out.exists()
    blanks = tmp_path / "blank.txt"
    blanks.write_bytes(b"\n  \n\t\n\xff\n")
    assert _run(model_path, "--input", blanks, "--skip-bad") == 1
    captured = capsys.readouterr()
    assert "no valid row among 4" in captured.err and captured.out == ""


def test_empty_input_says_so(model_path, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert _run(model_path, "--input", empty) == 1
    captured = capsys.readouterr()
    assert "is empty: nothing to classify" in captured.err and captured.out == ""
    header_only = tmp_path / "h.csv"
    header_only.write_text("id,text\n", encoding="utf-8")
    assert _run(model_path, "--input", header_only, "--skip-bad") == 1
    assert "has no rows" in capsys.readouterr().err


def test_unusable_output_path_is_a_clear_error(model_path, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text(GOOD[0] + "\n", encoding="utf-8")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert _run(model_path, "--input", src, "--output", a_file / "sub" / "out.csv") == 2
    err = capsys.readouterr().err
    assert f"{a_file} is a file, not a directory" in err and "Traceback" not in err
    assert _run(model_path, "--input", src, "--output", tmp_path) == 2
    assert "is a directory" in capsys.readouterr().err
    assert _run(model_path, "--input", src, "--output", "/dev/null", "--overwrite") == 2
    assert "not a regular file" in capsys.readouterr().err and Path("/dev/null").is_char_device()
    if Path("/sys").is_dir():  # not writable even for root
        assert _run(model_path, "--input", src, "--output", "/sys/out.csv") == 2
        assert "cannot write --output /sys/out.csv" in capsys.readouterr().err
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            assert _run(model_path, "--input", src, "--output", locked / "out.csv") == 2
            assert "Permission denied" in capsys.readouterr().err
        finally:
            locked.chmod(0o700)


def test_nothing_reaches_stdout_before_the_run_can_finish(model_path, tmp_path, capsys):
    src = tmp_path / "in.txt"
    lines = [GOOD[i % 4] for i in range(299)] + ["   "] + [GOOD[0]] * 20  # line 300 is bad
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert _run(model_path, "--input", src, "--chunk-size", "64", "--batch-size", "16") == 1
    captured = capsys.readouterr()
    assert captured.out == "" and f"{src}:300: empty headline" in captured.err
    # --stream trades that guarantee for output as it goes (documented in --help)
    assert _run(model_path, "--input", src, "--chunk-size", "64", "--batch-size", "16", "--stream") == 1
    assert len(capsys.readouterr().out.splitlines()) > 64
    assert _run(model_path, "--input", src, "--skip-bad") == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + 319


def test_overlong_lines_and_lone_surrogates_are_bad_lines(model_path, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(GOOD[0]) + "\n" + '"' + "x" * (1 << 20) + '"\n' + '{"text": "a \\ud800 b"}\n'
                   + json.dumps(GOOD[1]), encoding="utf-8")  # no newline after the last line
    assert _run(model_path, "--input", src, "--skip-bad", "--output-format", "jsonl") == 0
    captured = capsys.readouterr()
    assert f"{src}:2: line longer than" in captured.err
    assert f"{src}:3: text has an unpaired surrogate U+D800" in captured.err
    assert [json.loads(x)["line"] for x in captured.out.splitlines()] == [1, 4]


# -- worker processes: a run that is stopped, or loses a worker, leaves nothing behind -----
def _start_cli(model_path: Path, tmp_path: Path, rows: int = 800_000) -> tuple[subprocess.Popen, Path]:
    """The CLI on a file that takes it a few seconds (the tests stop it long before it ends)."""
    src = tmp_path / "big.txt"
    src.write_text("".join(GOOD[i % 4] + f" {i}\n" for i in range(rows)), encoding="utf-8")
    out = tmp_path / "out.csv"
    proc = subprocess.Popen([sys.executable, "-m", "export.classify", "--model", str(model_path), "--input", str(src),
                             "--output", str(out), "--device", "cpu", "--threads", "2", "--no-progress"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, out


def _workers_of(proc: subprocess.Popen, timeout: float = 60.0) -> list:
    """The run's worker processes (children of its forkserver), once they are working."""
    psutil = pytest.importorskip("psutil")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        tree = psutil.Process(proc.pid).children(recursive=True)
        workers = [p for p in tree if p.ppid() != proc.pid]  # forked by the forkserver
        if len(workers) == 2 and all(p.cpu_times().user > 0.05 for p in workers):
            return workers
        time.sleep(0.02)
    raise AssertionError("no worker processes appeared")


@pytest.mark.skipif(os.name != "posix", reason="signals and forkserver")
def test_a_dead_worker_fails_the_run_and_writes_nothing(model_path, tmp_path):
    proc, out = _start_cli(model_path, tmp_path)
    _workers_of(proc)[0].kill()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "a worker process died" in err and f"{out} was not written" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".out.csv.*"))


@pytest.mark.skipif(os.name != "posix", reason="signals and forkserver")
def test_terminated_or_killed_runs_leave_no_files_or_processes(model_path, tmp_path):
    psutil = pytest.importorskip("psutil")
    proc, out = _start_cli(model_path, tmp_path)
    workers = _workers_of(proc)
    proc.terminate()  # SIGTERM: cleaned up like Ctrl-C
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and f"interrupted: {out} was not written" in err, err
    assert not out.exists() and not list(tmp_path.glob(".out.csv.*"))
    psutil.wait_procs(workers, timeout=10)
    assert not any(p.is_running() for p in workers)
    # SIGKILL gives the parent no chance to stop its workers: they notice and exit on their own
    proc, out = _start_cli(model_path, tmp_path)
    workers = _workers_of(proc)
    proc.kill()
    proc.communicate(timeout=60)
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, "worker processes outlived a killed parent"


def test_worker_count(monkeypatch):
    from export.classify import MAX_DEFAULT_WORKERS, worker_count
    assert worker_count("cuda", 5) == 1  # one GPU session
    assert worker_count("cpu", 3) == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert worker_count("cpu", None) == MAX_DEFAULT_WORKERS
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert worker_count("cpu", None) == 1


def test_a_closed_session_refuses_to_run(model_path):
    from export.runtime import OnnxModel
    model = OnnxModel(model_path, device="cpu")
    tokens, lengths = np.ones((1, 2), np.int64), np.array([2], np.int64)
    assert model.logits(tokens, lengths).shape == (1, 4)
    model.close()  # export.classify does this in the main process once the workers hold theirs
    with pytest.raises(RuntimeError, match="closed"):
        model.logits(tokens, lengths)
