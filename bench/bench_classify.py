"""Batch classification speed and memory: `python -m export.classify` against a naive PyTorch loop.

    python bench/bench_classify.py                     # the full run (README table); a few minutes
    python bench/bench_classify.py --skip-memory       # without the 1.2 M-row memory run
    python bench/bench_classify.py --models bilstm --threads 2 --json bench_results/classify.json

Self-contained: it exports the shipped checkpoints to ONNX and builds the input (AG News
test.csv repeated --repeat times, 121,600 rows by default, as JSON lines: {"label", "text"})
in a temporary folder that is deleted afterwards. Rows of the table, per model:

  naive PyTorch        file order, batches of 256, Python tokenizer (`Vocab.encode` per
                       headline), including reading the JSON lines; nothing written
  old ORT loop         the same loop on onnxruntime (what export.classify did before)
  PyTorch sorted       model time only, batches of 256 sorted by length, tokens ready
  ORT sorted           the same on onnxruntime (one session, --threads intra-op threads)
  ORT sorted, workers  model time only as export.classify runs it: batches of 64 sorted by
                       length, --threads threads each with its own single-threaded session
  export.classify      the CLI end to end in a fresh process (start-up, reading, tokenizing,
                       sorting, onnxruntime, writing the CSV), wall clock and peak RSS;
                       also with --no-overlap (one thread, one core) to show what the workers gain

Checks: every row of the CLI's output is in input order and its label equals the PyTorch
model's argmax for that row. Goals: end to end >= 40,000 rows/s for
lesson-lstm-packed and >= 12,000 rows/s for bilstm, >= 2x / >= 3x the naive PyTorch loop.
Memory goal: <= 400 MB resident for 1.2 M rows (--memory-repeat 160), every model, judged
on the peak PSS of export.classify and its worker processes together (see run_cli).
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import torch  # noqa: E402

from export.onnx_export import export_checkpoint  # noqa: E402
from export.runtime import OnnxModel  # noqa: E402
from rnn_demo.checkpoint import load_checkpoint  # noqa: E402
from rnn_demo.tokenizer import PAD_ID, UNK_ID, Vocab  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ag_news" / "test.csv"
MODELS = ("lesson-lstm-packed", "bilstm")
GOAL_ROWS_PER_S = {"lesson-lstm-packed": 40_000, "bilstm": 12_000}
GOAL_VS_NAIVE = {"lesson-lstm-packed": 2.0, "bilstm": 3.0}
GOAL_RSS_MB = 400
BATCH = 256
CLI_BATCH = 64  # export.classify's default on the CPU
MAX_LEN = 200


def build_input(data: Path, out: Path, repeat: int) -> int:
    """test.csv (label, title, description) x repeat -> JSON lines {"label": 0-3, "text": title + " " + description}."""
    with open(data, encoding="utf-8", newline="") as fh:
        rows = [json.dumps({"label": int(label) - 1, "text": f"{title} {description}"}) + "\n"
                for label, title, description in csv.reader(fh)]
    with open(out, "w", encoding="utf-8") as fh:
        for _ in range(repeat):
            fh.writelines(rows)
    return len(rows) * repeat


def python_encode(vocab: Vocab, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The per-text tokenizer path (before the whole-batch encoder): Vocab.encode per headline, padded row by row."""
    ids = [vocab.encode(t)[:MAX_LEN] or [UNK_ID] for t in texts]
    lengths = np.array([len(x) for x in ids], dtype=np.int64)
    tokens = np.full((len(ids), int(lengths.max())), PAD_ID, dtype=np.int64)
    for row, x in enumerate(ids):
        tokens[row, : len(x)] = x
    return tokens, lengths


def file_order_loop(path: Path, vocab: Vocab, run) -> tuple[float, np.ndarray]:
    """Read JSON lines, batches of 256 in file order, Python tokenizer, run(tokens, lengths) -> logits."""
    start = time.perf_counter()
    labels = []
    with open(path, encoding="utf-8") as fh:
        batch: list[str] = []
        for line in fh:
            batch.append(json.loads(line)["text"])
            if len(batch) == BATCH:
                labels.append(run(*python_encode(vocab, batch)).argmax(1))
                batch = []
        if batch:
            labels.append(run(*python_encode(vocab, batch)).argmax(1))
    return time.perf_counter() - start, np.concatenate(labels)


def sorted_batches(path: Path, vocab: Vocab, batch: int = BATCH) -> list[tuple[np.ndarray, np.ndarray]]:
    with open(path, encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh]
    ids = [vocab.encode(t)[:MAX_LEN] or [UNK_ID] for t in texts]
    order = np.argsort([len(x) for x in ids], kind="stable")
    batches = []
    for start in range(0, len(order), batch):
        rows = order[start: start + batch]
        lengths = np.array([len(ids[i]) for i in rows], dtype=np.int64)
        tokens = np.full((len(rows), int(lengths.max())), PAD_ID, dtype=np.int64)
        for r, i in enumerate(rows):
            tokens[r, : len(ids[i])] = ids[i]
        batches.append((tokens, lengths))
    return batches


def timed_model(batches, run) -> float:
    run(*batches[0])  # warm-up
    start = time.perf_counter()
    for tokens, lengths in batches:
        run(tokens, lengths)
    return time.perf_counter() - start


def timed_workers(batches, models: list[OnnxModel]) -> float:
    """Model time with one thread per model, thread k running batches k, k+w, k+2w, ..."""
    for model in models:
        model.logits(*batches[0])  # warm-up
    threads = [threading.Thread(target=lambda k: [models[k].logits(*b) for b in batches[k::len(models)]], args=(k,))
               for k in range(len(models))]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def run_cli(args: list[str]) -> tuple[float, float, float, str]:
    """Run `python -m export.classify ARGS`; (wall seconds, peak PSS MB, peak RSS MB, stderr).

    Memory is that of the process and all its descendants (the worker processes and their
    forkserver), sampled every 100 ms (reading PSS costs ~0.3 ms per process: sampling more
    often would take a noticeable share of a core from the run it measures); the list of
    descendants is refreshed every 0.5 s (finding them scans /proc). PSS (proportional set size) counts a page shared by k processes as 1/k
    in each, so the sum over the tree is the physical memory the run holds; the sum of RSS
    counts the libraries the workers share with their forkserver once per process (reported
    too, as an upper bound). For a single process the two differ only by shared libraries.
    """
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "export.classify", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak_pss = peak_rss = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_pss, peak_rss
        try:
            root = psutil.Process(proc.pid)
        except psutil.Error:
            return
        tree, refreshed = [root], 0.0
        while not stop.is_set():
            if time.perf_counter() - refreshed > 0.5:
                try:
                    tree, refreshed = [root, *root.children(recursive=True)], time.perf_counter()
                except psutil.Error:
                    return
            pss = rss = 0
            for p in tree:
                try:
                    info = p.memory_full_info()
                except psutil.Error:
                    continue
                pss, rss = pss + info.pss, rss + info.rss
            peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"export.classify {' '.join(args)} failed ({proc.returncode}):\n{err}")
    return seconds, peak_pss / 2**20, peak_rss / 2**20, err


def check_output(out_csv: Path, expected_labels: np.ndarray, class_names: tuple[str, ...]) -> tuple[bool, int]:
    """(lines are 1..n in order, number of rows whose label differs from PyTorch's argmax)."""
    with open(out_csv, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    in_order = [int(r["line"]) for r in rows] == list(range(1, len(expected_labels) + 1))
    got = np.array([class_names.index(r["label"]) for r in rows])
    if len(got) != len(expected_labels):
        return in_order, abs(len(got) - len(expected_labels))
    return in_order, int((got != expected_labels).sum())


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), {psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.platform()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="AG News test.csv (default: ../shared/data)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"checkpoints (default {','.join(MODELS)})")
    parser.add_argument("--repeat", type=int, default=16, help="copies of test.csv in the input (default 16: 121,600 rows)")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads, onnxruntime threads, export.classify --threads (default 2)")
    parser.add_argument("--device", default="cpu", help="export.classify --device (default cpu)")
    parser.add_argument("--skip-baselines", action="store_true", help="only the export.classify rows")
    parser.add_argument("--skip-memory", action="store_true", help="skip the 1.2 M-row memory run")
    parser.add_argument("--memory-repeat", type=int, default=160, help="copies of test.csv for the memory run (160: 1,216,000 rows)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"error: {args.data} not found (AG News test.csv; pass --data)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    started_load = load()
    results: dict = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                     "machine": machine(), "threads": args.threads, "device": args.device, "models": {}}
    print(f"# {results['date']}  {results['machine']}\n# load average at start: {started_load}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_classify.") as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "headlines.jsonl"
        n = build_input(args.data, src, args.repeat)
        results["rows"] = n
        for name in args.models.split(","):
            ckpt = load_checkpoint(ROOT / "checkpoints" / name)
            onnx_path = export_checkpoint(ckpt, tmp / f"{name}.onnx").path
            row: dict = {}
            model = ckpt.model.eval()

            @torch.inference_mode()
            def torch_run(tokens, lengths):
                return model(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()

            ort_model = OnnxModel(onnx_path, "cpu", threads=args.threads)
            naive_s, reference = file_order_loop(src, ckpt.vocab, torch_run)
            row["naive_pytorch_s"] = naive_s
            print(f"{name}: naive PyTorch loop {naive_s:.2f} s", flush=True)
            if not args.skip_baselines:
                row["old_ort_loop_s"], old_labels = file_order_loop(src, ckpt.vocab, ort_model.logits)
                row["old_ort_label_mismatches"] = int((old_labels != reference).sum())
                batches = sorted_batches(src, ckpt.vocab)
                row["pytorch_sorted_model_s"] = timed_model(batches, torch_run)
                row["ort_sorted_model_s"] = timed_model(batches, ort_model.logits)
                del batches
                workers = [OnnxModel(onnx_path, "cpu", threads=1) for _ in range(args.threads)]
                row["ort_workers_model_s"] = timed_workers(sorted_batches(src, ckpt.vocab, CLI_BATCH), workers)
                del workers
                print(f"{name}: old ORT loop {row['old_ort_loop_s']:.2f} s, model time sorted: PyTorch "
                      f"{row['pytorch_sorted_model_s']:.2f} s, ORT {row['ort_sorted_model_s']:.2f} s, "
                      f"ORT workers {row['ort_workers_model_s']:.2f} s", flush=True)
            for variant, extra in (("cli", []), ("cli_no_overlap", ["--no-overlap"])):
                out = tmp / f"{name}.{variant}.csv"
                seconds, pss, rss, err = run_cli(["--model", str(onnx_path), "--input", str(src), "--output", str(out),
                                             "--device", args.device, "--threads", str(args.threads),
                                             "--no-progress", *extra])
                in_order, mismatches = check_output(out, reference, ckpt.class_names)
                out.unlink()
                row[f"{variant}_s"], row[f"{variant}_pss_mb"], row[f"{variant}_rss_mb"] = seconds, pss, rss
                row[f"{variant}_in_order"], row[f"{variant}_label_mismatches"] = in_order, mismatches
                print(f"{name}: export.classify {' '.join(extra)} {seconds:.2f} s ({n / seconds:,.0f} rows/s), "
                      f"peak PSS {pss:.0f} MB (RSS {rss:.0f} MB), in order: {in_order}, labels differing from PyTorch: {mismatches}"
                      f"\n    {err.strip().splitlines()[-1]}", flush=True)
            results["models"][name] = row
        if not args.skip_memory:
            big = tmp / "big.jsonl"
            rows = build_input(args.data, big, args.memory_repeat)
            results["memory"] = {}
            for name in args.models.split(","):
                out = tmp / "big.csv"
                seconds, pss, rss, _ = run_cli(["--model", str(tmp / f"{name}.onnx"), "--input", str(big),
                                           "--output", str(out), "--device", args.device,
                                           "--threads", str(args.threads), "--no-progress", "--overwrite"])
                results["memory"][name] = {"rows": rows, "seconds": seconds, "peak_pss_mb": pss, "peak_rss_mb": rss,
                                           "input_mb": big.stat().st_size / 2**20}
                print(f"memory: {rows:,} rows ({big.stat().st_size / 2**20:.0f} MB of JSON lines) with {name}: "
                      f"peak PSS {pss:.0f} MB (RSS summed {rss:.0f} MB) in {seconds:.1f} s", flush=True)
    results["load_start"], results["load_end"] = started_load, load()
    print_table(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def print_table(results: dict) -> None:
    n = results["rows"]
    names = list(results["models"])

    def cell(seconds: float | None) -> str:
        return "—" if seconds is None else f"{seconds:.2f} s ({n / seconds / 1000:.1f} k rows/s)"

    lines = [f"\n{n:,} headlines (test.csv x {n // 7600}) as JSON lines, {results['threads']} threads, "
             f"{results['date']}, load average {results['load_start']} at start, {results['load_end']} at end",
             f"| path | {' | '.join(f'`{m}`' for m in names)} |", "|---|" + "---:|" * len(names)]
    rows = [("naive PyTorch loop, batches of 256 in file order, Python tokenizer", "naive_pytorch_s"),
            ("old `export.classify` loop: onnxruntime, file order, Python tokenizer (no writing)", "old_ort_loop_s"),
            ("PyTorch model time alone, length-sorted batches of 256", "pytorch_sorted_model_s"),
            ("onnxruntime model time alone, length-sorted batches of 256", "ort_sorted_model_s"),
            ("onnxruntime model time alone, length-sorted batches of 64, one 1-thread session per thread",
             "ort_workers_model_s"),
            ("**`python -m export.classify`** end to end (new), CSV written", "cli_s"),
            ("`python -m export.classify --no-overlap` (one thread, one core: read, tokenize, run, write in turn)",
             "cli_no_overlap_s")]
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(cell(results["models"][m].get(key)) for m in names) + " |")
    lines.append("| export.classify ÷ naive PyTorch | " + " | ".join(
        f"{results['models'][m]['naive_pytorch_s'] / results['models'][m]['cli_s']:.2f}×" for m in names) + " |")
    lines.append("| peak memory of export.classify and its workers: PSS (RSS summed) | " + " | ".join(
        f"{results['models'][m]['cli_pss_mb']:.0f} MB ({results['models'][m]['cli_rss_mb']:.0f} MB)" for m in names) + " |")
    print("\n".join(lines))
    print("\nGoals:")
    for m in names:
        r = results["models"][m]
        rate, speedup = n / r["cli_s"], r["naive_pytorch_s"] / r["cli_s"]
        goal_rate, goal_speedup = GOAL_ROWS_PER_S.get(m), GOAL_VS_NAIVE.get(m)
        verdict = []
        if goal_rate:
            verdict.append(f"{rate:,.0f} rows/s vs >= {goal_rate:,}: {'met' if rate >= goal_rate else 'NOT met'}")
        if goal_speedup:
            verdict.append(f"{speedup:.2f}x naive vs >= {goal_speedup}x: {'met' if speedup >= goal_speedup else 'NOT met'}")
        same = r["cli_in_order"] and r["cli_label_mismatches"] == 0
        verdict.append(f"input order and PyTorch argmax on every row: {'yes' if same else 'NO'}"
                       f" ({r['cli_label_mismatches']} differ)")
        print(f"- {m}: " + "; ".join(verdict))
    for name, mem in results.get("memory", {}).items():
        print(f"- memory, {name}: {mem['rows']:,} rows, peak PSS {mem['peak_pss_mb']:.0f} MB vs <= {GOAL_RSS_MB} MB: "
              f"{'met' if mem['peak_pss_mb'] <= GOAL_RSS_MB else 'NOT met'} (RSS summed over the processes: "
              f"{mem['peak_rss_mb']:.0f} MB, an upper bound that counts shared libraries once per process)")


if __name__ == "__main__":
    sys.exit(main())
