"""python -m export.bench: PyTorch vs onnxruntime (CPU, and CUDA when it really works).

For each model and batch size: median latency per call and headlines/s, on random token ids
of a fixed padded length (default 48, about an AG News title + description), every row its
full length. Each model is exported fresh (and verified) to a temporary folder first, and the
backends' logits are compared on the benchmark batch so that they compute the same thing.

    python -m export.bench                                   # all checkpoints, batch 1..8192
    python -m export.bench --models lesson-lstm-packed --batch-sizes 1,256 --min-time 0.2

On CUDA the onnxruntime numbers use IOBinding with the inputs already on the device and the
logits left there (the model's throughput, like PyTorch with inputs on the GPU); TF32 off.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from rnn_demo.checkpoint import discover_checkpoints, load_checkpoint

from .onnx_export import export_checkpoint
from .runtime import CUDA, OnnxModel, ProviderUnavailableError

DEFAULT_BATCHES = (1, 64, 256, 1024, 8192)
BACKENDS = ("pytorch-cpu", "ort-cpu", "pytorch-cuda", "ort-cuda")  # table column order
LSTM_FAMILY_GOALS = {1: 2.0, 256: 1.5}  # the goals: ORT CPU / PyTorch CPU speed-up at these batch sizes


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    return {
        "cpu": cpu_name(),
        "logical_cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "onnxruntime": ort.__version__,
        "onnxruntime_available_providers": ort.get_available_providers(),
    }


def time_calls(fn, min_time: float, min_reps: int, max_reps: int) -> list[float]:
    """Seconds per call: one warm-up call, then at least min_reps and until min_time has passed."""
    fn()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < max_reps and (len(times) < min_reps or time.perf_counter() - started < min_time):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _torch_fn(model, tokens: np.ndarray, lengths: np.ndarray):
    t, n = torch.from_numpy(tokens), torch.from_numpy(lengths)

    def run():
        with torch.inference_mode():
            return model(t, n)
    return run


def _torch_cuda_fn(model, tokens: np.ndarray, lengths: np.ndarray):
    """PyTorch on the GPU, inputs already on the device; each call waits for the kernels to finish."""
    t, n = torch.from_numpy(tokens).cuda(), torch.from_numpy(lengths).cuda()

    def run():
        with torch.inference_mode():
            out = model(t, n)
        torch.cuda.synchronize()
        return out
    return run


def _torch_cuda_model(ckpt):
    """A GPU copy of the checkpoint's model with TF32 off (fp32 parity), or None without a usable GPU."""
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = copy.deepcopy(ckpt.model).cuda().eval()
    return model


def _ort_cuda_bound_fn(onnx_model: OnnxModel, tokens: np.ndarray, lengths: np.ndarray):
    """IOBinding with inputs copied to the GPU once and the output left on the GPU."""
    session, device_id = onnx_model.session, onnx_model.device_id
    binding = session.io_binding()
    values = [ort.OrtValue.ortvalue_from_numpy(a, "cuda", device_id) for a in (tokens, lengths)]
    for name, value in zip(("tokens", "lengths"), values):
        binding.bind_ortvalue_input(name, value)
    binding.bind_output("logits", "cuda", device_id)

    def run():
        session.run_with_iobinding(binding)
        binding.synchronize_outputs()
    run.keep_alive = (binding, values)  # device buffers live as long as the timed function
    return run, binding


def bench_model(folder: Path, batches, seq_len: int, min_time: float, threads: int | None,
                use_cuda: bool, workdir: Path, log) -> tuple[list[dict], str]:
    ckpt = load_checkpoint(folder)
    onnx_path = export_checkpoint(ckpt, workdir / f"{ckpt.name}.onnx", write_tokenizer=False).path
    backends = {"ort-cpu": OnnxModel(onnx_path, device="cpu", threads=threads)}
    cuda_note = "not requested"
    if use_cuda:
        try:
            backends["ort-cuda"] = OnnxModel(onnx_path, device="cuda", threads=threads)
            cuda_note = backends["ort-cuda"].describe()
        except ProviderUnavailableError as exc:
            cuda_note = str(exc)
    torch_cuda = _torch_cuda_model(ckpt) if use_cuda else None
    rng = np.random.default_rng(0)
    rows = []
    for batch in batches:
        tokens = rng.integers(2, ckpt.config.vocab_size, size=(batch, seq_len)).astype(np.int64)
        lengths = np.full(batch, seq_len, dtype=np.int64)
        with torch.inference_mode():
            reference = ckpt.model(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()
        fns = {"pytorch-cpu": _torch_fn(ckpt.model, tokens, lengths)}
        diffs = {"pytorch-cpu": 0.0}
        if torch_cuda is not None:
            fns["pytorch-cuda"] = _torch_cuda_fn(torch_cuda, tokens, lengths)
            diffs["pytorch-cuda"] = float(np.abs(fns["pytorch-cuda"]().cpu().numpy() - reference).max())
        for name, model in backends.items():
            got = model.logits(tokens, lengths)
            diff = diffs[name] = float(np.abs(got - reference).max())
            if diff > 1e-4:
                raise RuntimeError(f"{ckpt.name} batch {batch}: {name} differs from PyTorch by {diff:.2e}")
            if name == "ort-cpu":
                fns[name] = (lambda m=model: m.logits(tokens, lengths))
            else:
                fns[name] = _ort_cuda_bound_fn(model, tokens, lengths)[0]
        # big batches are slow on a small CPU: fewer repetitions, still at least two
        min_reps = 2 if batch >= 1024 else 5
        for backend, fn in fns.items():
            times = time_calls(fn, min_time, min_reps, max_reps=10_000)
            median = statistics.median(times)
            rows.append({"model": ckpt.name, "preset": ckpt.preset, "cell": ckpt.config.cell,
                         "backend": backend, "batch": batch, "seq_len": seq_len, "reps": len(times),
                         "latency_ms_median": median * 1e3, "latency_ms_min": min(times) * 1e3,
                         "headlines_per_s": batch / median,
                         "max_abs_diff_vs_pytorch_cpu": diffs[backend]})
            log(f"  {ckpt.name:20s} {backend:12s} batch {batch:5d}: {median * 1e3:9.3f} ms  "
                f"{batch / median:12,.0f} headlines/s  ({len(times)} reps)")
    return rows, cuda_note


def speedups(rows: list[dict]) -> list[dict]:
    """ORT / PyTorch throughput ratio per (model, batch, ORT backend)."""
    torch_rows = {(r["model"], r["batch"]): r for r in rows if r["backend"] == "pytorch-cpu"}
    out = []
    for r in rows:
        base = torch_rows.get((r["model"], r["batch"]))
        if r["backend"].startswith("ort") and base:
            out.append({"model": r["model"], "cell": r["cell"], "batch": r["batch"], "backend": r["backend"],
                        "speedup_vs_pytorch_cpu": r["headlines_per_s"] / base["headlines_per_s"]})
    return out


def format_table(rows: list[dict]) -> str:
    by_key = {(r["model"], r["batch"], r["backend"]): r for r in rows}
    backends = [b for b in BACKENDS if any(r["backend"] == b for r in rows)]
    header = ["model", "batch"] + [f"{b} ms" for b in backends] + [f"{b} hl/s" for b in backends] + ["ORT-CPU x", "max |diff|"]
    lines = []
    for model in dict.fromkeys(r["model"] for r in rows):
        for batch in dict.fromkeys(r["batch"] for r in rows if r["model"] == model):
            cells = [by_key.get((model, batch, b)) for b in backends]
            ms = [f"{c['latency_ms_median']:.3f}" if c else "-" for c in cells]
            hps = [f"{c['headlines_per_s']:,.0f}" if c else "-" for c in cells]
            t, o = by_key.get((model, batch, "pytorch-cpu")), by_key.get((model, batch, "ort-cpu"))
            ratio = f"{o['headlines_per_s'] / t['headlines_per_s']:.2f}" if t and o else "-"
            worst = max((c.get("max_abs_diff_vs_pytorch_cpu", 0.0) for c in cells if c), default=0.0)
            lines.append([model, str(batch), *ms, *hps, ratio, f"{worst:.1e}"])
    widths = [max(len(x) for x in col) for col in zip(header, *lines)]
    fmt = lambda cells: "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([fmt(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, lines)])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m export.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints-dir", type=Path, default=Path("checkpoints"),
                        help="folder of checkpoints (default: checkpoints)")
    parser.add_argument("--models", help="comma-separated checkpoint names (default: all found)")
    parser.add_argument("--batch-sizes", default=",".join(map(str, DEFAULT_BATCHES)),
                        help=f"comma-separated batch sizes (default {','.join(map(str, DEFAULT_BATCHES))})")
    parser.add_argument("--seq-len", type=int, default=48, help="padded length of every headline (default 48)")
    parser.add_argument("--min-time", type=float, default=0.5,
                        help="seconds of timed calls per cell, after one warm-up call (default 0.5)")
    parser.add_argument("--threads", type=int,
                        help="threads for both PyTorch (set_num_threads) and onnxruntime (intra-op); "
                             "default: each library's own default")
    parser.add_argument("--no-cuda", action="store_true", help="skip onnxruntime CUDA even if it works")
    parser.add_argument("--json", type=Path, default=Path("bench_results/bench.json"),
                        help="where to write the JSON results (default bench_results/bench.json)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    batches = [int(b) for b in args.batch_sizes.split(",") if b]
    if not batches or min(batches) < 1 or args.seq_len < 1:
        print("error: batch sizes and --seq-len must be positive", file=sys.stderr)
        return 2
    folders = discover_checkpoints(args.checkpoints_dir)
    if args.models:
        wanted = args.models.split(",")
        missing = sorted(set(wanted) - {f.name for f in folders})
        if missing:
            print(f"error: no checkpoint named {', '.join(missing)} under {args.checkpoints_dir}", file=sys.stderr)
            return 2
        folders = [f for f in folders if f.name in wanted]
    if not folders:
        print(f"error: no checkpoints under {args.checkpoints_dir}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine_info()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"machine: {info['cpu']}, {info['logical_cpus']} logical CPUs, load average {info['load_average_at_start']}")
    started = time.perf_counter()
    rows, cuda_notes = [], {}
    with tempfile.TemporaryDirectory(prefix="rnn_demo_bench_") as tmp:
        for folder in folders:
            model_rows, cuda_notes[folder.name] = bench_model(
                folder, batches, args.seq_len, args.min_time, args.threads, not args.no_cuda, Path(tmp), log)
            rows.extend(model_rows)
    info["load_average_at_end"] = os.getloadavg()
    ratios = speedups(rows)
    goals = [
        {**s, "goal": LSTM_FAMILY_GOALS[s["batch"]], "met": s["speedup_vs_pytorch_cpu"] >= LSTM_FAMILY_GOALS[s["batch"]]}
        for s in ratios if s["backend"] == "ort-cpu" and s["cell"] == "lstm" and s["batch"] in LSTM_FAMILY_GOALS
    ]
    result = {
        "command": "python -m export.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": info, "seconds": time.perf_counter() - started, "cuda": cuda_notes,
        "settings": {"seq_len": args.seq_len, "min_time": args.min_time, "threads": args.threads,
                     "lengths": "every row full length", "ids": "uniform random, seed 0"},
        "results": rows, "speedups": ratios, "lstm_family_goals": goals,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(format_table(rows))
    for g in goals:
        print(f"goal ORT-CPU >= {g['goal']}x PyTorch CPU, {g['model']} batch {g['batch']}: "
              f"{g['speedup_vs_pytorch_cpu']:.2f}x {'met' if g['met'] else 'NOT met'}")
    for name, note in cuda_notes.items():
        if CUDA not in note:
            print(f"CUDA ({name}): {note}")
            break
    busy = max(info["load_average_at_start"][0], info["load_average_at_end"][0])
    if busy >= 0.5 * (info["logical_cpus"] or 1):
        print(f"warning: load average {busy:.1f} on {info['logical_cpus']} logical CPUs - other work shared the "
              "machine, so these timings are noisy; multi-threaded PyTorch/OpenMP can collapse on busy cores "
              "(compare with --threads 1)")
    print(f"{len(rows)} measurements in {result['seconds']:.0f} s; load average {info['load_average_at_start']} -> "
          f"{info['load_average_at_end']}; JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
