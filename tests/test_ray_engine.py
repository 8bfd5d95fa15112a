"""`python -m export.classify --engine ray` on a real local Ray cluster: two nodes of one CPU each
(ray.cluster_utils.Cluster), the same bytes as the local engine, lost actors and nodes, bad rows,
the data-safety rules, and resources that cannot make a run wait forever."""
from __future__ import annotations

import csv
import faulthandler
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Every Ray process of these tests talks over 127.0.0.1 (read when ray is imported; inherited by the nodes).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray")  # requirements-ray.txt, part of requirements-dev.txt
psutil = pytest.importorskip("psutil")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from export.classify import main  # noqa: E402
from export.onnx_export import export_checkpoint  # noqa: E402
from export.ray_engine import expand_input, plan_actors  # noqa: E402
from rnn_demo.checkpoint import load_checkpoint  # noqa: E402
from tests.helpers import ROOT  # noqa: E402

TEST_TIMEOUT = 240     # seconds a test may take before it fails (SIGALRM) ...
HARD_TIMEOUT = 420     # ... and before the whole run is stopped with every thread's stack (faulthandler)
STALL = "60"           # --stall-timeout of every Ray run here: Ray Data gives up instead of waiting
NODE_ARGS = {"num_cpus": 1, "object_store_memory": 80 * 2**20}
# a removed node is declared dead after ~1.5 s instead of ~15 s
FAST_HEALTH_CHECKS = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                      "health_check_failure_threshold": 3}


@pytest.fixture(autouse=True)
def time_limit():
    """No test here can hang CI: SIGALRM fails a stuck test, faulthandler ends a stuck run."""
    def expired(signum, frame):
        raise TimeoutError(f"test took more than {TEST_TIMEOUT} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIMEOUT)
    faulthandler.dump_traceback_later(HARD_TIMEOUT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def own_processes(*names: str) -> list:
    """This test process's descendants (the cluster's raylets and their workers) whose command
    line names one of `names`: never a process of another run on the machine."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            command = " ".join(process.cmdline())
        except psutil.Error:  # gone meanwhile
            continue
        if any(name in command for name in names):
            found.append(process)
    return found


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes of one CPU each on this machine (no dashboard, small object stores); every
    Ray process is gone after the module."""
    cluster = Cluster(initialize_head=True, head_node_args={
        **NODE_ARGS, "include_dashboard": False, "_system_config": FAST_HEALTH_CHECKS})
    try:
        cluster.add_node(**NODE_ARGS)
        cluster.wait_for_nodes(timeout=60)
        yield cluster
    finally:
        if ray.is_initialized():  # a failed test may leave this process connected; shutdown() refuses then
            ray.shutdown()
        cluster.shutdown()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            left = own_processes("raylet", "gcs_server", "ray::", "default_worker")
            if not left:
                break
            time.sleep(0.5)
        assert not left, f"Ray processes outlived the tests: {[p.pid for p in left]}"


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """The shipped lesson-lstm-packed, exported: real vocabulary and lengths."""
    ckpt = load_checkpoint(ROOT / "checkpoints" / "lesson-lstm-packed")
    return ckpt, export_checkpoint(ckpt, tmp_path_factory.mktemp("ray") / "packed.onnx").path


def headlines(ckpt, n: int, seed: int = 0) -> list[str]:
    """n headlines of 1..40 known and unknown words, punctuation and quotes, in random order."""
    rng = random.Random(seed)
    words = list(ckpt.vocab.tokens[2:3000]) + ['"quoted"', "Wall", "St.", "(AP)", "don't", "zzunknownzz", "a,b"]
    return [" ".join(rng.choice(words) for _ in range(rng.choice([1, 3, 6, 9, 14, 22, 40]))) for _ in range(n)]


def write_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    return path


def write_csv(path: Path, texts: list[str]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        writer.writerows(enumerate(texts))
    return path


def run(model: Path, *args, cluster=None) -> int:
    """export.classify in this process; the Ray engine joins `cluster`."""
    extra = ["--engine", "ray", "--address", cluster.address, "--stall-timeout", STALL] if cluster else []
    code = main(["--model", str(model), "--device", "cpu", "--no-progress", *extra, *map(str, args)])
    assert not ray.is_initialized(), "the run left this process connected to Ray"
    return code


def nodes_used(stderr: str) -> set[str]:
    """Nodes named in the run's summary ('N chunks on node ID provider')."""
    summary = next(line for line in stderr.splitlines() if line.startswith("classified "))
    return {part.split(" on node ")[1].split()[0] for part in summary.split(", ") if " on node " in part}


# -- the same answers in the same order ----------------------------------------------------------
def test_one_file_gives_the_local_engines_bytes_on_two_nodes(cluster, packed, tmp_path, capsys):
    ckpt, model = packed
    src = write_jsonl(tmp_path / "in.jsonl", headlines(ckpt, 30_400))
    for fmt in ("csv", "jsonl"):
        local, remote = tmp_path / f"local.{fmt}", tmp_path / f"ray.{fmt}"
        # chunks of 1,024 rows: 30 chunks, so that both one-CPU nodes get some
        assert run(model, "--input", src, "--output", local, "--chunk-size", 1024) == 0
        capsys.readouterr()
        assert run(model, "--input", src, "--output", remote, "--chunk-size", 1024, cluster=cluster) == 0
        err = capsys.readouterr().err
        assert "2 nodes, 2 actors on CPU" in err and "classified 30400 headlines" in err, err
        assert len(nodes_used(err)) == 2, f"both nodes run actors: {err}"
        assert remote.read_bytes() == local.read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_shards_of_every_format_give_one_result_file_each(cluster, packed, tmp_path, capsys):
    ckpt, model = packed
    texts = headlines(ckpt, 30_000, seed=1)
    shards = tmp_path / "shards"
    shards.mkdir()
    write_csv(shards / "part-0.csv", texts[:9000])
    write_jsonl(shards / "part-1.jsonl", texts[9000:20000])
    pq.write_table(pa.table({"id": range(10000), "text": texts[20000:]}), shards / "part-2.parquet", row_group_size=3000)
    (shards / "part-3.txt").write_bytes(b"")              # an empty shard: an empty result (its header)
    (shards / "_SUCCESS").write_text("")                   # markers and hidden files are not shards
    (shards / ".part-1.jsonl.crc").write_text("x")
    out = tmp_path / "out"
    assert run(model, "--input", shards, "--output", out, "--chunk-size", 2048, cluster=cluster) == 0
    err = capsys.readouterr().err
    assert "4 input shards" in err and "classified 30000 headlines" in err, err
    assert sorted(p.name for p in out.iterdir()) == ["part-0.csv", "part-1.csv", "part-2.csv", "part-3.csv"]
    for name in ("part-0.csv", "part-1.jsonl", "part-2.parquet"):
        local = tmp_path / f"local-{name}.csv"
        assert run(model, "--input", shards / name, "--output", local, "--chunk-size", 2048) == 0
        assert (out / (name.split(".")[0] + ".csv")).read_bytes() == local.read_bytes(), name
    assert (out / "part-3.csv").read_text().startswith("line,text,label,") and len(
        (out / "part-3.csv").read_text().splitlines()) == 1
    # a glob of the same shards, JSON lines out
    globbed = tmp_path / "globbed"
    assert run(model, "--input", shards / "part-[01].*", "--output", globbed, "--output-format", "jsonl",
               "--chunk-size", 2048, cluster=cluster) == 0
    capsys.readouterr()
    rows = [json.loads(x) for x in (globbed / "part-1.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in rows] == list(range(1, 11001)) and [r["text"] for r in rows] == texts[9000:20000]


def test_stdout_without_output(cluster, packed, tmp_path, capsys):
    ckpt, model = packed
    src = write_jsonl(tmp_path / "in.jsonl", headlines(ckpt, 300, seed=2))
    assert run(model, "--input", src) == 0
    local = capsys.readouterr().out
    assert run(model, "--input", src, cluster=cluster) == 0
    assert capsys.readouterr().out == local and len(local.splitlines()) == 301


# -- bad rows, as in the local engine ----------------------------------------------------------
def test_bad_rows_stop_the_run_or_are_skipped_as_in_the_local_engine(cluster, packed, tmp_path, capsys):
    ckpt, model = packed
    texts = headlines(ckpt, 3000, seed=3)
    lines = [json.dumps({"text": t}) for t in texts]
    lines[1500] = '{"text": "unterminated'
    lines[2100] = json.dumps({"text": "   "})
    lines.append(json.dumps({"title": "no text"}))  # a bad row after the last valid one
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert run(model, "--input", src, "--output", out, "--chunk-size", 500, cluster=cluster) == 1
    err = capsys.readouterr().err
    assert f"error: {src}:1501: not valid JSON" in err and "--skip-bad" in err, err
    assert not out.exists() and not list(tmp_path.glob(".out.csv.*"))

    local = tmp_path / "local.csv"
    assert run(model, "--input", src, "--output", local, "--chunk-size", 500, "--skip-bad") == 0
    local_skips = [x for x in capsys.readouterr().err.splitlines() if x.startswith("skipped ")]
    assert run(model, "--input", src, "--output", out, "--chunk-size", 500, "--skip-bad", cluster=cluster) == 0
    err = capsys.readouterr().err
    assert [x for x in err.splitlines() if x.startswith("skipped ")] == local_skips
    assert len(local_skips) == 3 and f"{src}:3001: JSON object has no 'text' field" in local_skips[-1]
    assert "skipped 3 bad rows" in err and "3001 rows read" in err and out.read_bytes() == local.read_bytes()
    # a CSV quote that never closes stops the run at its line, also with --skip-bad (the read
    # tasks run the local engine's reader)
    broken = tmp_path / "broken.csv"
    broken.write_text("id,text\n" + "".join(f"{i},headline {i}\n" for i in range(600)).replace(
        "\n300,", '\n300,"', 1), encoding="utf-8")
    assert run(model, "--input", broken, "--output", out, "--overwrite", "--chunk-size", 100, "--skip-bad",
               cluster=cluster) == 1
    err = capsys.readouterr().err
    assert f"error: {broken}:302: a quoted CSV field opens on this line and never closes" in err, err
    assert out.read_bytes() == local.read_bytes(), "the earlier result is kept"


def test_no_valid_row_and_a_missing_column_fail_before_writing(cluster, packed, tmp_path, capsys):
    _, model = packed
    blanks = tmp_path / "blank.txt"
    blanks.write_bytes(b"\n  \n\t\n\xff\n")
    assert run(model, "--input", blanks, "--skip-bad", cluster=cluster) == 1
    captured = capsys.readouterr()
    assert "no valid row among 4" in captured.err and captured.out == ""
    table = tmp_path / "t.parquet"
    pq.write_table(pa.table({"headline": ["a", "b"]}), table)
    assert run(model, "--input", table, cluster=cluster) == 1
    assert "Parquet file has no column 'text'" in capsys.readouterr().err
    shards = tmp_path / "shards"
    shards.mkdir()
    blanks.rename(shards / "blank.txt")
    (shards / "empty.txt").write_bytes(b"")
    assert run(model, "--input", shards, "--output", tmp_path / "out", "--skip-bad", cluster=cluster) == 1
    assert f"{shards}: no valid row among 4" in capsys.readouterr().err
    assert not (tmp_path / "out").exists(), "the result folder this run made is removed again"
    deep = tmp_path / "new" / "deeper" / "out"
    assert run(model, "--input", shards, "--output", deep, "--skip-bad", cluster=cluster) == 1
    capsys.readouterr()
    assert not (tmp_path / "new").exists(), "every folder this run made is removed again"


# -- data safety -------------------------------------------------------------------------------
def test_refuses_outputs_that_would_destroy_inputs_or_results(packed, tmp_path, capsys):
    """Refused before Ray starts (no cluster needed)."""
    ckpt, model = packed
    shards = tmp_path / "in"
    shards.mkdir()
    write_jsonl(shards / "a.jsonl", ["stocks fall"])
    write_csv(shards / "b.csv", ["stocks fall"])
    ray_run = ["--engine", "ray", "--stall-timeout", STALL]
    assert run(model, "--input", shards / "a.jsonl", "--output", shards / "a.jsonl", "--overwrite", *ray_run) == 2
    assert "is the input file" in capsys.readouterr().err
    out = tmp_path / "out"
    out.mkdir()
    os.link(shards / "b.csv", out / "a.csv")  # a.jsonl's result file would be the shard b.csv
    assert run(model, "--input", shards, "--output", out, "--overwrite", *ray_run) == 2
    assert "is the input shard" in capsys.readouterr().err
    (out / "a.csv").unlink()
    (out / "a.csv").write_text("precious\n")
    assert run(model, "--input", shards, "--output", out, *ray_run) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert (out / "a.csv").read_text() == "precious\n"
    write_csv(shards / "a.csv", ["stocks fall"])
    assert run(model, "--input", shards, "--output", tmp_path / "new", *ray_run) == 2
    assert "would both be written to" in capsys.readouterr().err
    assert run(model, "--input", shards, *ray_run) == 2
    assert "needs --output FOLDER" in capsys.readouterr().err
    assert run(model, "--input", tmp_path / "none-*.csv", "--output", tmp_path / "o", *ray_run) == 2
    assert "no file matches" in capsys.readouterr().err
    assert run(model, "--input", shards / "b.csv", "--threads", "2", *ray_run) == 2
    assert "--threads belong to the local engine" in capsys.readouterr().err
    assert main(["--model", str(model), "--input", str(shards / "b.csv"), "--actors", "2"]) == 2
    assert "--actors belong to --engine ray" in capsys.readouterr().err
    assert not (tmp_path / "new").exists() and not (tmp_path / "o").exists()


def test_more_actors_than_the_cluster_holds_is_an_error_not_a_hang(cluster, packed, tmp_path, capsys):
    _, model = packed
    src = write_jsonl(tmp_path / "in.jsonl", ["stocks fall"])
    started = time.monotonic()
    assert run(model, "--input", src, "--actors", "3", cluster=cluster) == 2
    err = capsys.readouterr().err
    assert "--actors 3 cannot all start" in err and "holds 2" in err, err
    assert run(model, "--input", src, "--device", "cuda", "--engine", "ray", "--address", cluster.address) == 2
    assert "no actor fits" in capsys.readouterr().err
    assert time.monotonic() - started < 60


def test_cuda_actors_ask_for_gpus_and_fail_clearly_where_cuda_cannot_run(cluster, packed, tmp_path, capsys):
    """A node that declares a GPU (there is none here): the actor goes there, and its session,
    which cannot reach CUDA, stops the run with onnxruntime's reason instead of a Ray traceback."""
    _, model = packed
    src = write_jsonl(tmp_path / "in.jsonl", ["stocks fall"])
    node = cluster.add_node(**{**NODE_ARGS, "num_gpus": 1})
    try:
        cluster.wait_for_nodes(timeout=60)
        code = run(model, "--input", src, "--output", tmp_path / "out.csv", "--device", "cuda", cluster=cluster)
        err = capsys.readouterr().err
        assert "3 nodes, 1 actor on CUDA" in err, err
        if code == 0:  # a machine where CUDA works after all
            assert "CUDAExecutionProvider" in err.splitlines()[-1]
        else:
            assert code == 2 and err.splitlines()[-1].startswith("error: device='cuda' requested but"), err
            assert not (tmp_path / "out.csv").exists()
    finally:
        cluster.remove_node(node)


def test_plan_actors_fits_the_free_resources():
    node = {"CPU": 2.0, "memory": 1e9}
    assert plan_actors("cpu", None, [node, node], {"CPU": 4.0}) == 4
    assert plan_actors("cpu", None, [node, node], {"CPU": 1.0}) == 1        # other jobs hold the rest
    assert plan_actors("cpu", 3, [node, node], {"CPU": 4.0}) == 3
    with pytest.raises(ValueError, match="--actors 5 cannot all start.*holds 4"):
        plan_actors("cpu", 5, [node, node], {"CPU": 4.0})
    gpus = {"CPU": 8.0, "GPU": 2.0}
    assert plan_actors("cuda", None, [gpus, node], {"CPU": 10.0, "GPU": 2.0}) == 2   # one per GPU
    assert plan_actors("cuda", None, [{"CPU": 1.0, "GPU": 4.0}], {"CPU": 1.0, "GPU": 4.0}) == 1  # and a CPU each
    with pytest.raises(ValueError, match="no actor fits"):
        plan_actors("cuda", None, [node], {"CPU": 2.0})


def test_expand_input_orders_shards_by_name(tmp_path):
    for name in ("b.jsonl", "a.csv", "c.parquet", "notes.md", "_SUCCESS", ".hidden.csv"):
        (tmp_path / name).write_text("x")
    assert expand_input(tmp_path, "auto") == ([tmp_path / "a.csv", tmp_path / "b.jsonl", tmp_path / "c.parquet"], True)
    assert expand_input(tmp_path, "txt")[0][-1] == tmp_path / "notes.md"
    assert expand_input(tmp_path / "*.jsonl", "auto") == ([tmp_path / "b.jsonl"], True)
    assert expand_input(tmp_path / "a.csv", "auto") == ([tmp_path / "a.csv"], False)
    os.mkfifo(tmp_path / "pipe.jsonl")  # read tasks run elsewhere: a pipe is the local engine's
    with pytest.raises(ValueError, match="not a file .*classify a pipe with the local engine"):
        expand_input(tmp_path / "pipe.jsonl", "auto")


def test_the_local_engine_never_imports_ray(packed, tmp_path):
    _, model = packed
    src = write_jsonl(tmp_path / "in.jsonl", ["stocks fall"])
    code = ("import sys; from export.classify import main; "
            f"code = main(['--model', {str(model)!r}, '--input', {str(src)!r}, '--device', 'cpu', '--no-progress']); "
            "assert 'ray' not in sys.modules, 'ray imported'; sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


# -- lost actors, lost nodes, stopped runs: every row once, or nothing -------------------------------
def _unnamed_output(pid: int, folder: Path) -> int:
    """Bytes in the unnamed files `pid` holds open in `folder` (O_TMPFILE: 'FOLDER/#INODE (deleted)');
    the result file has no name until the run has succeeded."""
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith(f"{folder}/#") and target.endswith(" (deleted)"):
                total += os.stat(f"/proc/{pid}/fd/{fd}").st_size
        except OSError:
            continue
    return total


def _running(model: Path, src: Path, out: Path, address: str, *extra: str) -> subprocess.Popen:
    """The CLI on `address`, once its temporary output holds 100 kB: actors up and working."""
    proc = subprocess.Popen([sys.executable, "-m", "export.classify", "--engine", "ray", "--address", address,
                             "--model", str(model), "--input", str(src), "--output", str(out), "--device", "cpu",
                             "--no-progress", "--chunk-size", "256", "--stall-timeout", STALL, *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        tmp = list(out.parent.glob(f".{out.name}.*.tmp"))  # where there is no O_TMPFILE
        if (tmp and tmp[0].stat().st_size >= 100_000) or _unnamed_output(proc.pid, out.parent) >= 100_000:
            return proc
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the run wrote nothing")


def _every_row_once_or_nothing(proc: subprocess.Popen, out: Path, reference: bytes) -> str:
    _, err = proc.communicate(timeout=180)
    print(f"exit {proc.returncode}: {err.strip().splitlines()[-1]}")  # which of the two outcomes (pytest -rA)
    if proc.returncode == 0:
        assert out.read_bytes() == reference, "completed: every row exactly once, in order"
    else:  # the other allowed outcome: a clear error and nothing written
        assert proc.returncode == 1 and "error:" in err and "Traceback" not in err, err
        assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.*"))
    return err


@pytest.fixture(scope="module")
def long_input(packed, tmp_path_factory):
    """The model, 40,000 headlines (157 chunks of 256) and the local engine's result."""
    ckpt, model = packed
    root = tmp_path_factory.mktemp("long")
    src = write_jsonl(root / "in.jsonl", headlines(ckpt, 40_000, seed=4))
    assert run(model, "--input", src, "--output", root / "local.csv", "--chunk-size", 256) == 0
    return model, src, (root / "local.csv").read_bytes()


def test_an_actor_killed_mid_run(cluster, long_input, tmp_path):
    model, src, reference = long_input
    proc = _running(model, src, tmp_path / "out.csv", cluster.address)
    actors = own_processes("ChunkClassifier")
    assert actors, "no actor process found"
    actors[0].kill()
    err = _every_row_once_or_nothing(proc, tmp_path / "out.csv", reference)
    assert proc.returncode == 0, f"Ray restarts the actor and retries its chunk: {err}"


def test_a_stopped_run_leaves_nothing(cluster, long_input, tmp_path):
    model, src, _ = long_input
    proc = _running(model, src, tmp_path / "out.csv", cluster.address)
    proc.terminate()  # SIGTERM: cleaned up like Ctrl-C
    time.sleep(0.1)
    if proc.poll() is None:
        proc.terminate()  # a second one does not cut the cleanup short
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and f"interrupted: {tmp_path / 'out.csv'} was not written" in err, err
    assert err.count("interrupted") == 1 and "Traceback" not in err, err
    assert not list(tmp_path.iterdir()), "no result and no temporary file"
    # SIGKILL: the result had no name yet, so nothing is left; the cluster ends the driver's actors
    proc = _running(model, src, tmp_path / "out.csv", cluster.address)
    proc.kill()
    proc.communicate(timeout=60)
    assert not list(tmp_path.iterdir()), "no result and no temporary file"
    deadline = time.monotonic() + 60
    while own_processes("ChunkClassifier") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not own_processes("ChunkClassifier"), "the killed driver's actors were left running"


def test_a_worker_node_removed_mid_run(cluster, long_input, tmp_path):
    """Runs last: the cluster gets a third node, which is then lost with its actor and its results."""
    model, src, reference = long_input
    node = cluster.add_node(**NODE_ARGS)
    cluster.wait_for_nodes(timeout=60)
    proc = _running(model, src, tmp_path / "out.csv", cluster.address, "--actors", "3")
    cluster.remove_node(node, allow_graceful=False)
    err = _every_row_once_or_nothing(proc, tmp_path / "out.csv", reference)
    assert "3 nodes, 3 actors" in err
