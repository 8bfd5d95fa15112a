"""The batch CLI never loses, invents or leaves behind anything: every CSV line ends up in a row
or in a reported skip (or the run stops at the quote that makes that impossible), a long quoted
field stays one row, and no way of ending a run leaves a file (SIGKILL, repeated Ctrl-C or
SIGTERM, a full disk, a worker stopped with SIGSTOP); pipes are read, and a failed run removes
the folders it made."""
from __future__ import annotations

import csv
import errno
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from export import batch_io
from export.batch_io import FatalInputError, NewFile, OutputPathError, read_rows
from export.classify import main
from export.onnx_export import export_checkpoint
from rnn_demo.checkpoint import load_checkpoint, save_checkpoint
from rnn_demo.models import TextClassifier, preset_config
from rnn_demo.tokenizer import Vocab

ROOT = Path(__file__).resolve().parents[1]
GOOD = ["stocks fall as oil climbs", "yankees win again", "new chip for phones", "talks resume in geneva"]
posix_only = pytest.mark.skipif(os.name != "posix" or not Path("/proc/self/fd").is_dir(),
                                reason="signals, forkserver and /proc")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("safety")
    torch.manual_seed(0)
    vocab = Vocab(("<pad>", "<unk>", *sorted({w for line in GOOD for w in line.split()})))
    model = TextClassifier(preset_config("gru", vocab_size=len(vocab))).eval()
    ckpt = load_checkpoint(save_checkpoint(root / "gru", model, vocab, "gru", metrics={}))
    return export_checkpoint(ckpt, root / "exports" / "gru.onnx").path


def _run(model_path, *args) -> int:
    return main(["--model", str(model_path), "--device", "cpu", "--no-progress", *map(str, args)])


def _skips(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("skipped ")]


# -- CSV: every line in a row or a reported skip; no row made of a field's pieces ------------
def test_a_quote_that_never_closes_stops_the_run_at_its_line(model_path, tmp_path, capsys):
    """5 good rows, then `5,"broken quote`, then 1,994 rows: once 5 rows out and the 1,994 gone
    with "skipped 1 bad lines"; now the run stops at the quote, also with --skip-bad."""
    src = tmp_path / "broken.csv"
    src.write_text("id,text\n" + "".join(f"{i},{GOOD[i % 4]}\n" for i in range(5)) + '5,"broken quote\n'
                   + "".join(f"{i},{GOOD[i % 4]} {i}\n" for i in range(6, 2000)), encoding="utf-8")
    out = tmp_path / "out.csv"
    for extra in ([], ["--skip-bad"]):
        assert _run(model_path, "--input", src, "--output", out, *extra) == 1
        captured = capsys.readouterr()
        assert f"error: {src}:7: a quoted CSV field opens on this line and never closes" in captured.err
        assert "lines 7-2001, to the end of the file" in captured.err and "Traceback" not in captured.err
        assert not _skips(captured.err) and captured.out == ""
        assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.csv"]


def test_a_quoted_field_over_128_kib_is_one_row(model_path, tmp_path, capsys):
    """A quoted field over 128 KiB whose lines each hold a comma once came out as 2,854 rows
    (csv's field limit, then every further line read as a row of its own)."""
    field = "".join(f"part {i}, with a comma\n" for i in range(7000)) + "the end"
    assert len(field) > 150_000
    src = tmp_path / "long.csv"
    with open(src, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([["id", "text"], [1, field], [2, GOOD[0]]])
    out = tmp_path / "out.jsonl"
    for extra in ([], ["--skip-bad"]):
        assert _run(model_path, "--input", src, "--output", out, "--overwrite", *extra) == 0
        assert not _skips(capsys.readouterr().err)
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert [(r["line"], r["text"]) for r in rows] == [(2, field), (7003, GOOD[0])]
    # past the row limit (1 MiB) the field is refused, naming its line, even with --skip-bad
    src.write_text("id,text\n0,ok\n1,\"" + "x, y\n" * 250_000 + "\"\n2,after\n", encoding="utf-8")
    for extra in ([], ["--skip-bad"]):
        assert _run(model_path, "--input", src, "--output", tmp_path / "big.csv", *extra) == 1
        err = capsys.readouterr().err
        assert f"{src}:3: a quoted CSV field opens on this line and runs past 1,048,576 bytes" in err, err
    assert not (tmp_path / "big.csv").exists()


def test_skip_bad_accounts_for_every_line(model_path, tmp_path, capsys):
    """Rows out + rows skipped = rows in, every skip named with the lines it covers."""
    src = tmp_path / "mixed.csv"
    src.write_bytes(
        b"id,text\n"                          # 1
        b"1,stocks fall as oil climbs\n"        # 2  good
        b'2,"yankees\nwin, again"\n'          # 3-4 good, one row over two lines
        b'3,"new chip ""for""\nphones",x\n'   # 5-6 three fields: one bad row over two lines
        b'4,"stray "quote\n'                  # 7  malformed
        b"5,caf\xe9\n"                         # 8  not UTF-8
        b"\n"                                  # 9  blank line inside the file
        b"6,talks resume in geneva\n"         # 10 good
        b'7,"a\n\xff\nb"\n'                   # 11-13 not UTF-8 inside a quoted field
        b"8,stocks fall\n"                    # 14 good
        b"\n\r\n")                             # 15-16 blank lines at the end: no rows
    assert _run(model_path, "--input", src, "--skip-bad", "--output-format", "jsonl") == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["line"] for r in rows] == [2, 3, 10, 14]
    assert rows[1]["text"] == "yankees\nwin, again"
    skipped = [re.match(rf"skipped {re.escape(str(src))}:(\d+): (.*)", line) for line in _skips(captured.err)]
    assert [int(m[1]) for m in skipped] == [5, 7, 8, 9, 11]
    assert skipped[0][2] == "expected 2 CSV fields, found 3 (lines 5-6)"
    assert skipped[3][2] == "blank line"
    assert skipped[4][2].startswith("not valid UTF-8") and skipped[4][2].endswith("(lines 11-13)")
    last = captured.err.strip().splitlines()[-1]
    assert "classified 4 headlines" in last and "skipped 5 bad rows" in last and "9 rows read" in last, last


def _random_field(rng: random.Random) -> str:
    pieces = ["stocks", "fall", ",", '"', '""', "\n", " ", "oil", "a,b", "é", "\u4e2d"]
    if rng.random() < 0.03:  # now and then a field over csv's own 128 KiB limit
        return "".join(f"line {i}, with a comma\n" for i in range(rng.randint(6000, 9000)))
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))).strip() or "x"


@pytest.mark.parametrize("terminator", ["\n", "\r\n"])
def test_valid_csv_comes_back_row_for_row(tmp_path, terminator):
    """Random valid CSV (quotes, commas and line breaks in fields, some fields over 128 KiB):
    exactly the records written, each at the line where it starts; no row made of pieces."""
    rng = random.Random(7)
    for trial in range(20):
        records = [[str(i), _random_field(rng), rng.choice(["x", "y,z", ""])] for i in range(rng.randint(1, 40))]
        text = io.StringIO()
        csv.writer(text, lineterminator=terminator).writerows([["id", "text", "extra"], *records])
        src = tmp_path / f"t{trial}.csv"
        src.write_bytes(text.getvalue().encode("utf-8"))
        expected, line = [], 1 + 1
        for record in records:
            one = io.StringIO()
            csv.writer(one, lineterminator=terminator).writerow(record)
            expected.append((line, record[1]))
            line += one.getvalue().count("\n")
        got = [(lineno, text) for lineno, text, error in read_rows(src, "csv") if error is None]
        assert got == expected, f"trial {trial}"


@pytest.mark.parametrize("content, line, kind", [
    ('id,text\n1,ok\n2,"broken\n3,row\n4,"quoted"\n5,fine\n', 3, "breaks on line 5"),  # would swallow rows 3-4
    ('text\n"x\ny\n"p\nq"\nz\n', 2, "breaks on line 4"),                                 # q" would be a row
    ('id,text\n1,ok\n4,"a"b,"c\nd"\n5,fine\n', 3, "still open at the end of the line"),
    ('id,text\n1,ok\n2,"' + "x" * (1 << 20) + '"\n3,fine\n', 3, "with a quote in it"),  # an overlong line
])
def test_csv_that_cannot_be_resynchronised_stops_the_run(tmp_path, content, line, kind):
    src = tmp_path / "in.csv"
    src.write_text(content, encoding="utf-8")
    with pytest.raises(FatalInputError, match=rf"^{re.escape(str(src))}:{line}: .*{kind}"):
        list(read_rows(src, "csv"))


def test_jsonl_and_text_ending_in_blank_lines_are_accepted_by_a_strict_run(model_path, tmp_path, capsys):
    for name, body in (("in.jsonl", "".join(json.dumps({"text": t}) + "\n" for t in GOOD)),
                       ("in.txt", "\n".join(GOOD) + "\n")):
        src = tmp_path / name
        src.write_text(body + "\n  \n\r\n", encoding="utf-8")
        assert _run(model_path, "--input", src, "--output-format", "jsonl") == 0
        captured = capsys.readouterr()
        assert [json.loads(x)["text"] for x in captured.out.splitlines()] == GOOD, captured.err
        # a blank line with rows after it is still a bad row
        src.write_text("\n".join(body.splitlines()[:2] + [""] + body.splitlines()[2:]) + "\n", encoding="utf-8")
        assert _run(model_path, "--input", src) == 1
        assert f"{src}:3: " in capsys.readouterr().err


# -- pipes --------------------------------------------------------------------------------------
@posix_only
def test_dev_stdin_and_a_fifo_are_read(model_path, tmp_path, capsys):
    proc = subprocess.run([sys.executable, "-m", "export.classify", "--model", str(model_path), "--input",
                           "/dev/stdin", "--format", "txt", "--device", "cpu", "--no-progress", "--threads", "1"],
                          cwd=ROOT, input="\n".join(GOOD) + "\n", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [r["text"] for r in csv.DictReader(io.StringIO(proc.stdout))] == GOOD
    fifo = tmp_path / "headlines.jsonl"
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps({"text": t}) + "\n" for t in GOOD * 3)

    writer = threading.Thread(target=feed)
    writer.start()
    out = tmp_path / "out.csv"
    assert _run(model_path, "--input", fifo, "--output", out, "--threads", "1") == 0
    writer.join(10)
    assert len(list(csv.DictReader(out.open(encoding="utf-8")))) == 12
    # an empty pipe is no rows, said so
    proc = subprocess.run([sys.executable, "-m", "export.classify", "--model", str(model_path), "--input",
                           "/dev/stdin", "--device", "cpu", "--no-progress", "--threads", "1"],
                          cwd=ROOT, input="", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "has no rows" in proc.stderr, proc.stderr


# -- output: nothing partial, nothing left, no folder left -------------------------------------
def test_a_failed_run_removes_the_folders_it_made(model_path, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_bytes(b"stocks fall\n\xff\n")
    out = tmp_path / "new" / "deeper" / "out.csv"
    assert _run(model_path, "--input", src, "--output", out) == 1
    assert "not valid UTF-8" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]
    (tmp_path / "new").mkdir()
    assert _run(model_path, "--input", src, "--output", out) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "new"] and not list((tmp_path / "new").iterdir())
    assert _run(model_path, "--input", src, "--output", out, "--skip-bad") == 0
    assert out.is_file()


@pytest.mark.parametrize("unnamed", [True, False])
def test_new_file_appears_whole_and_never_over_a_file_that_appeared_meanwhile(tmp_path, monkeypatch, unnamed):
    """Both ways a result is written: unnamed (O_TMPFILE, linked into place) and the named
    fallback (a hidden file renamed into place) used where O_TMPFILE is not supported."""
    monkeypatch.setattr(batch_io, "UNNAMED_FILES", unnamed and batch_io.UNNAMED_FILES)
    target = tmp_path / "out.csv"
    new = NewFile(target, overwrite=False)
    new.file.write("a,b\n")
    hidden = [p.name for p in tmp_path.iterdir()]
    assert hidden == ([] if new.unnamed else [new.tmp]) and new.unnamed == (unnamed and batch_io.UNNAMED_FILES)
    new.commit()
    assert target.read_text() == "a,b\n" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    # without overwrite, a file that appeared during the run is kept, and the new one is not written
    new = NewFile(target, overwrite=False)
    new.file.write("new\n")
    with pytest.raises(OutputPathError, match="appeared while this run was writing"):
        new.commit()
    assert target.read_text() == "a,b\n" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    new = NewFile(target, overwrite=True)
    new.file.write("new\n")
    new.commit()
    assert target.read_text() == "new\n" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    new = NewFile(tmp_path / "a" / "b" / "c.csv", overwrite=False)
    new.file.write("x")
    new.discard()
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_named_fallback_leaves_nothing_either(model_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(batch_io, "UNNAMED_FILES", False)
    src = tmp_path / "in.txt"
    src.write_text("\n".join(GOOD) + "\n   \n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert _run(model_path, "--input", src, "--output", out) == 0
    assert len(out.read_text().splitlines()) == 5
    src.write_text("\n".join(GOOD) + "\n   \nmore\n", encoding="utf-8")
    assert _run(model_path, "--input", src, "--output", out, "--overwrite") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.csv"]


def test_a_failed_sync_at_the_end_is_one_line_and_leaves_nothing(model_path, tmp_path, monkeypatch, capsys):
    """A full disk simulated where delayed allocation reports it: at the final sync (os.fsync
    replaced by one that fails with ENOSPC). The real thing, on a full tmpfs, is below."""
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(batch_io.os, "fsync", full)
    src = tmp_path / "in.txt"
    src.write_text("\n".join(GOOD) + "\n", encoding="utf-8")
    out = tmp_path / "sub" / "out.csv"
    assert _run(model_path, "--input", src, "--output", out) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (f"error: cannot write --output {out}: No space left on device; "
                                            "it was not written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


@posix_only
def test_a_full_stdout_is_one_line(model_path, tmp_path):
    """Results to stdout are printed at the end; stdout on /dev/full fails at that final flush."""
    src = tmp_path / "in.txt"
    src.write_text("\n".join(GOOD * 50) + "\n", encoding="utf-8")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "export.classify", "--model", str(model_path), "--input",
                               str(src), "--device", "cpu", "--no-progress", "--threads", "1"],
                              cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("error: cannot write to stdout: No space left on device")
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 4 KiB (needs root, or CAP_SYS_ADMIN; skipped elsewhere)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k,mode=0777", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@posix_only
@pytest.mark.parametrize("rows", [60, 3000])  # a full disk at the final flush (< 8 KiB buffered), and mid-run
def test_a_full_disk_is_one_line_and_leaves_nothing(model_path, tmp_path, small_disk, rows):
    src = tmp_path / "in.txt"
    src.write_text("".join(f"{GOOD[i % 4]} {i}\n" for i in range(rows)), encoding="utf-8")
    out = small_disk / "out.csv"
    proc = subprocess.run([sys.executable, "-m", "export.classify", "--model", str(model_path), "--input", str(src),
                           "--output", str(out), "--device", "cpu", "--no-progress", "--threads", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[-1] == (f"error: cannot write --output {out}: No space left on device; "
                                            "it was not written")
    assert "Traceback" not in proc.stderr and not list(small_disk.iterdir())
    used = subprocess.run(["df", "--output=used", str(small_disk)], capture_output=True, text=True).stdout.split()
    assert used[-1] == "0", "the unnamed file's blocks were freed"


# -- stopping a run: SIGKILL, repeated signals, a stopped worker -------------------------------
@pytest.fixture(scope="module")
def big_input(tmp_path_factory) -> Path:
    """Headlines that take the CLI several seconds (the tests stop it long before it ends)."""
    src = tmp_path_factory.mktemp("big") / "big.txt"
    src.write_text("".join(f"{GOOD[i % 4]} {i}\n" for i in range(800_000)), encoding="utf-8")
    return src


def _start(model_path: Path, src: Path, out: Path, log: Path, *extra: str) -> subprocess.Popen:
    with open(log, "w") as err:  # a file, not a pipe: a stopped worker that inherits it cannot block the test
        return subprocess.Popen([sys.executable, "-m", "export.classify", "--model", str(model_path), "--input",
                                 str(src), "--output", str(out), "--device", "cpu", "--threads", "2",
                                 "--no-progress", *extra], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)


def _busy_workers(proc: subprocess.Popen, timeout: float = 90.0) -> list:
    """The run's worker processes, once both are working."""
    psutil = pytest.importorskip("psutil")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before its workers were seen"
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True) if p.ppid() != proc.pid]
        if len(workers) == 2 and all(p.cpu_times().user > 0.05 for p in workers):
            return workers
        time.sleep(0.02)
    raise AssertionError("no worker processes appeared")


def _unnamed_output(pid: int, folder: Path) -> int:
    """Bytes in the unnamed files `pid` holds open in `folder` (O_TMPFILE: 'FOLDER/#INODE (deleted)')."""
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith(f"{folder}/#") and target.endswith(" (deleted)"):
                total += os.stat(f"/proc/{pid}/fd/{fd}").st_size
        except OSError:
            continue
    return total


def _kill_tree(proc: subprocess.Popen, workers: list) -> None:
    """After a failed test: nothing of the run stays behind (a stopped worker included)."""
    for p in [proc, *workers]:
        try:
            os.kill(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait(30)


@posix_only
def test_sigkill_leaves_no_file(model_path, big_input, tmp_path):
    """Once an 11.8 MB hidden temporary file stayed beside --output; now the output has no name
    until the end, and the workers follow the killed parent."""
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "out.csv"
    proc = _start(model_path, big_input, out, tmp_path / "err.log", "--chunk-size", "2048")
    workers = _busy_workers(proc)
    try:
        deadline = time.monotonic() + 60
        while not (_unnamed_output(proc.pid, tmp_path) > 100_000 or list(tmp_path.glob(".out.csv.*"))):
            assert time.monotonic() < deadline, "the run wrote nothing"
            time.sleep(0.02)
        time.sleep(0.2)
        proc.kill()
        proc.wait(30)
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, "worker processes outlived a killed parent"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["err.log"]
    finally:
        _kill_tree(proc, workers)


@posix_only
@pytest.mark.parametrize("first, second, gap", [(signal.SIGTERM, signal.SIGTERM, 0.05),
                                                (signal.SIGINT, signal.SIGINT, 0.2),
                                                (signal.SIGTERM, signal.SIGINT, 0.5)])
def test_repeated_stop_signals_leave_nothing_and_say_so_once(model_path, big_input, tmp_path, first, second, gap):
    """A second signal used to cut the cleanup short and leave the hidden temporary output,
    while stderr said it was not written. Big chunks keep the workers busy for a while, so the
    second signal comes while the run is stopping."""
    out = tmp_path / "out.csv"
    log = tmp_path / "err.log"
    proc = _start(model_path, big_input, out, log, "--chunk-size", "200000")
    workers = _busy_workers(proc)
    try:
        time.sleep(0.3)
        proc.send_signal(first)
        time.sleep(gap)
        if proc.poll() is None:
            proc.send_signal(second)
            time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(second)
        assert proc.wait(60) == 130
        err = log.read_text()
        assert [line for line in err.splitlines() if "interrupted" in line or "error" in line.lower()] == [
            f"interrupted: {out} was not written"], err
        assert "Traceback" not in err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["err.log"]
    finally:
        _kill_tree(proc, workers)


@posix_only
def test_a_stopped_worker_cannot_hang_the_shutdown(model_path, big_input, tmp_path):
    """SIGTERM with a worker stopped by SIGSTOP once waited forever for that worker."""
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "out.csv"
    log = tmp_path / "err.log"
    proc = _start(model_path, big_input, out, log)
    workers = _busy_workers(proc)
    try:
        workers[0].suspend()  # SIGSTOP
        started = time.monotonic()
        proc.terminate()
        assert proc.wait(45) == 130, log.read_text()
        assert time.monotonic() - started < 30
        assert f"interrupted: {out} was not written" in log.read_text()
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, "the stopped worker was left behind"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["err.log"]
    finally:
        _kill_tree(proc, workers)


def test_a_refused_link_falls_back_to_a_copy(tmp_path, monkeypatch):
    """Where the filesystem refuses to link the unnamed file (EPERM, EXDEV) its data is copied
    to a hidden file that is put in place instead, rather than the run's results being lost."""
    if not batch_io.UNNAMED_FILES:
        pytest.skip("no O_TMPFILE here")

    def refused(self, name):
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(NewFile, "_link", refused)
    for overwrite in (False, True):
        target = tmp_path / "out.csv"
        new = NewFile(target, overwrite=overwrite)
        assert new.unnamed
        new.file.write("x" * 3_000_000)
        new.commit()
        assert target.read_text() == "x" * 3_000_000 and [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    new = NewFile(target, overwrite=False)
    new.file.write("y")
    with pytest.raises(OutputPathError, match="appeared while this run was writing"):
        new.commit()
    assert target.read_text() == "x" * 3_000_000 and [p.name for p in tmp_path.iterdir()] == ["out.csv"]
