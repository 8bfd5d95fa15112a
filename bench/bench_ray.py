"""The Ray engine beside the local one: `python -m export.classify --engine ray` against the default
engine on the same 121,600 rows (AG News test.csv x 16), each run end to end in a fresh process.

    python bench/bench_ray.py                       # docs/ray.md's table: both models, 3 runs each
    python bench/bench_ray.py --models lesson-lstm-packed --runs 1 --json bench_results/ray.json

Self-contained like bench_classify.py, whose helpers it uses (the input, the process-tree memory
sampler): the shipped checkpoints are exported and the input is built in a temporary folder.
Rows of the table, per model:

  local                        export.classify (worker processes), one JSON-lines file
  ray, one file                --engine ray: a local Ray started and stopped by the run
  ray, 16 shards               the same rows as a folder of 16 files of 7,600 (a result file each)
  ray, running cluster         --engine ray --address of a Ray started once before
                               (`ray start --head --block` before these runs, stopped after them)

Fixed start cost: the same command on a one-row input (Python start, imports, Ray start, actors,
Ray stop). Rows/s once running: the Ray engine's own rate after its first results came back (its
last line), the local engine's own rate (reading to the end; its workers start in ~0.2 s).
Memory: peak PSS and summed RSS of the command and every process it starts (for Ray: GCS,
raylet, workers, actors), sampled every 100 ms (bench_classify.run_cli); for the running cluster
only the driver's, since the cluster's processes are not its children. Checks: every
result file byte for byte equal to the local engine's.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_classify import DEFAULT_DATA, build_input, load, machine, run_cli  # noqa: E402
from export.onnx_export import export_checkpoint  # noqa: E402
from rnn_demo.checkpoint import load_checkpoint  # noqa: E402

MODELS = ("lesson-lstm-packed", "bilstm")
SHARDS = 16
VARIANTS = ("local", "ray, one file", "ray, 16 shards", "ray, running cluster")


def start_cluster(cpus: int, port: int) -> subprocess.Popen:
    """`ray start --head --block`: a Ray that outlives single runs; stopped by terminating this process."""
    ray_cli = Path(sys.executable).with_name("ray")
    log = tempfile.TemporaryFile("w+")  # a file, not a pipe: a full pipe would stop the process
    proc = subprocess.Popen([str(ray_cli), "start", "--head", "--block", f"--port={port}", f"--num-cpus={cpus}",
                             "--include-dashboard=false", "--disable-usage-stats"],
                            stdout=log, stderr=subprocess.STDOUT, text=True,
                            # on SIGTERM it drains for up to 30 s by default; nothing is left to drain here
                            env={**os.environ, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "2"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"ray start failed:\n{log.read()}")
        probe = subprocess.run([str(ray_cli), "status", f"--address=127.0.0.1:{port}"], capture_output=True, text=True)
        if probe.returncode == 0 and "CPU" in probe.stdout:
            return proc
        time.sleep(1)
    proc.terminate()
    raise RuntimeError("ray start did not come up within 120 s")


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # every Ray here on 127.0.0.1 (inherited)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="AG News test.csv (default: ../shared/data)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"checkpoints (default {','.join(MODELS)})")
    parser.add_argument("--repeat", type=int, default=SHARDS,
                        help=f"copies of test.csv, and shards in the folder variant (default {SHARDS}: 121,600 rows)")
    parser.add_argument("--cpus", type=int, default=2,
                        help="local engine --threads; Ray actors and CPUs of the running cluster (default 2)")
    parser.add_argument("--runs", type=int, default=3, help="runs of every variant (default 3)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--read-only", action="store_true",
                        help="only time a read task alone (what bounds the actors one driver node can feed)")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"error: {args.data} not found (AG News test.csv; pass --data)", file=sys.stderr)
        return 2
    results: dict = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                     "machine": machine(), "cpus": args.cpus, "runs": args.runs, "load_start": load(), "models": {}}
    print(f"# {results['date']}  {results['machine']}\n# load average at start: {results['load_start']}", flush=True)
    # `ray start` protects its cluster with a token (~/.ray/auth_token); a driver given an explicit
    # --address sends it only when asked to
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    with tempfile.TemporaryDirectory(prefix="bench_ray.") as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "headlines.jsonl"
        rows = build_input(args.data, src, args.repeat)
        results["rows"] = rows
        shards = tmp / "shards"
        shards.mkdir()
        build_input(args.data, shards / "part-00.jsonl", 1)
        for k in range(1, args.repeat):
            shutil.copyfile(shards / "part-00.jsonl", shards / f"part-{k:02d}.jsonl")
        one = tmp / "one.jsonl"
        one.write_text(src.open(encoding="utf-8").readline(), encoding="utf-8")
        results["read_task_rows_per_s"] = time_read_task(src, args.runs)
        print(f"read task alone (one core, JSON lines, chunks of 4,096 as Arrow rows): "
              f"{', '.join(f'{r:,.0f}' for r in results['read_task_rows_per_s'])} rows/s", flush=True)
        if args.read_only:
            return 0
        for name in args.models.split(","):
            model = export_checkpoint(load_checkpoint(ROOT / "checkpoints" / name), tmp / f"{name}.onnx").path
            results["models"][name] = bench_model(model, src, shards, one, tmp, rows, args)
    results["load_end"] = load()
    print_table(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def time_read_task(src: Path, runs: int) -> list[float]:
    """Rows/s of one Ray read task's work (export.ray_engine._read_shard), in this process."""
    from export.ray_engine import _read_shard
    rates = []
    for _ in range(runs):
        start, rows = time.perf_counter(), 0
        for table in _read_shard(0, str(src), "jsonl", "text", 4096):
            rows += len(table["lines"][0])
        rates.append(rows / (time.perf_counter() - start))
    return rates


def bench_model(model: Path, src: Path, shards: Path, one: Path, tmp: Path, rows: int, args) -> dict:
    name = model.stem
    common = ["--model", str(model), "--device", "cpu", "--no-progress"]
    ray = ["--engine", "ray", "--actors", str(args.cpus)]
    port = free_port()
    engines = {"local": ["--threads", str(args.cpus)], "ray, one file": ray, "ray, 16 shards": ray,
               "ray, running cluster": [*ray, "--address", f"127.0.0.1:{port}"]}
    local_out, local_shard = tmp / f"{name}.local.csv", tmp / f"{name}.local-shard.csv"
    run_cli([*common, "--input", str(src), "--output", str(local_out)])  # the reference bytes (and a warm-up)
    run_cli([*common, "--input", str(shards / "part-00.jsonl"), "--output", str(local_shard)])
    reference, shard_reference = local_out.read_bytes(), local_shard.read_bytes()
    row: dict = {variant: {"seconds": [], "pss_mb": [], "rss_mb": [], "fixed_s": [], "running": [], "identical": True}
                 for variant in VARIANTS}
    for run in range(args.runs):
        for variant in VARIANTS:
            extra = engines[variant]
            source = shards if variant == "ray, 16 shards" else src
            out = tmp / ("out" if variant == "ray, 16 shards" else "out.csv")
            # the running cluster runs only for its own rows, so that its idle processes weigh on no other
            cluster = start_cluster(args.cpus, port) if variant == "ray, running cluster" else None
            try:
                seconds, pss, rss, err = run_cli([*common, *extra, "--input", str(source), "--output", str(out)])
                # the fixed cost of a folder input is that of the same engine on one file
                fixed = row["ray, one file"]["fixed_s"][-1] if variant == "ray, 16 shards" else \
                    run_cli([*common, *extra, "--input", str(one)])[0]
            finally:
                if cluster is not None:
                    cluster.terminate()  # --block: ray start stops every process of its cluster on SIGTERM
                    cluster.wait(timeout=60)
            if variant == "ray, 16 shards":
                files = sorted(out.iterdir())
                same = len(files) == args.repeat and all(f.read_bytes() == shard_reference for f in files)
                shutil.rmtree(out)
            else:
                same = out.read_bytes() == reference
                out.unlink()
            r = row[variant]
            r["seconds"].append(seconds)
            r["pss_mb"].append(pss)
            r["rss_mb"].append(rss)
            r["fixed_s"].append(fixed)
            r["running"].append(running_rate(err))
            r["identical"] = r["identical"] and same
            print(f"{name} run {run + 1}: {variant}: {seconds:.2f} s ({rows / seconds:,.0f} rows/s), "
                  f"fixed {fixed:.2f} s, peak PSS {pss:.0f} MB (RSS {rss:.0f} MB), identical to local: {same}, "
                  f"load {load()}\n    {err.strip().splitlines()[-1]}", flush=True)
    return row


def running_rate(stderr: str) -> float:
    """The rate once the run is going, from its last line: the Ray engine's rate after its first
    results; the local engine's own rate (its workers start in ~0.2 s)."""
    last = stderr.strip().splitlines()[-1]
    match = re.search(r"then ([\d,]+) rows/s", last) or re.search(r"\(([\d,]+)/s\)", last)
    return float(match[1].replace(",", ""))


def print_table(results: dict) -> None:
    n = results["rows"]

    def span(values: list[float], fmt: str) -> str:
        low, high = min(values), max(values)
        return fmt.format(low) if len(values) == 1 or fmt.format(low) == fmt.format(high) else \
            f"{fmt.format(low)}–{fmt.format(high)}"

    print(f"\nread task alone: {min(results['read_task_rows_per_s']):,.0f}–{max(results['read_task_rows_per_s']):,.0f} "
          "rows/s on one core")
    print(f"\n{n:,} headlines (test.csv x {n // 7600}) as JSON lines, {results['cpus']} CPUs "
          f"(local --threads, Ray actors), {results['runs']} runs, {results['date']}, load average "
          f"{results['load_start']} at start, {results['load_end']} at end; {results['machine']}")
    print("| model | engine | end to end | rows/s end to end | fixed start cost (1 row) | rows/s once running "
          "| peak PSS (RSS summed) | same bytes as local |")
    print("|---|---|---:|---:|---:|---:|---:|:-:|")
    for name, row in results["models"].items():
        for variant, r in row.items():
            print(f"| `{name}` | {variant} | {span(r['seconds'], '{:.2f}')} s | "
                  f"{span([n / s for s in r['seconds']], '{:,.0f}')} | {span(r['fixed_s'], '{:.2f}')} s | "
                  f"{span(r['running'], '{:,.0f}')} | {span(r['pss_mb'], '{:.0f}')} MB ({span(r['rss_mb'], '{:.0f}')} MB)"
                  f"{' (driver only)' if variant == 'ray, running cluster' else ''} | "
                  f"{'yes' if r['identical'] else 'NO'} |")


if __name__ == "__main__":
    sys.exit(main())
