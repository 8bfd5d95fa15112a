"""Benchmark the app: predict and full-analysis latency in-process, start-up time and memory of `python app.py`.

    python bench/bench_app.py                      # table on stdout, JSON in bench_results/app.json
    python bench/bench_app.py --iterations 50 --startup-runs 1

Targets: predict p50 <= 5 ms, the Read tab's server work (answer, table, notes, importance chips and
the payload the browser draws from, serialised to JSON) p50 <= 50 ms, a 300-word headline on the Read
tab and on the memory tab <= 2,000 ms each, `python app.py` to first HTTP 200 <= 15 s, resident memory
with all models loaded <= 700 MB.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import torch  # noqa: E402

from load import stop_server  # noqa: E402  (bench/load.py)
from page import lesson_views, settings, views  # noqa: E402
from page.registry import Registry  # noqa: E402
from rnn_demo.catalog import EXAMPLES  # noqa: E402

TARGETS = {"predict_p50_ms": 5.0, "analysis_p50_ms": 50.0, "long_read_ms": 2000.0, "long_memory_ms": 2000.0,
           "startup_s": 15.0, "rss_mb": 700.0}
# 300 words: past the 200 the models read and the 60 the per-word views show (page/reader.py WORD_LIMIT)
LONG = " ".join(("Stocks rally as chipmakers report record sales while investors weigh the central bank "
                 "outlook " * 24).split()[:300])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def timed(fn, iterations: int) -> list[float]:
    out = []
    for i in range(iterations):
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1e3)
    return out


def in_process(root: Path, iterations: int) -> dict:
    """Per model: predict (one headline) and the whole Read tab (all figures serialised as gr.Plot does)."""
    settings.configure_torch()
    reg = Registry(root)
    headlines = EXAMPLES
    results = {}
    for name in reg.names:
        views.predict(reg, headlines[0], name)  # warm-up
        views.analyze_page(reg, headlines[0], name)
        predict_ms = timed(lambda i: views.predict(reg, headlines[i % len(headlines)], name), iterations)

        def analysis(i: int, text: str | None = None) -> None:
            reg._traces.clear()  # measure the real work, not the per-headline cache
            page = views.analyze_page(reg, text or headlines[i % len(headlines)], name)
            json.dumps(page.payload)  # what Gradio sends for the gr.JSON the browser draws from

        analysis_ms = timed(analysis, iterations)
        long_read = timed(lambda i: analysis(i, LONG), 3)
        long_memory = timed(lambda i: lesson_views.memory_view(reg, LONG, name), 3)
        results[name] = {"predict_p50_ms": statistics.median(predict_ms),
                         "predict_p95_ms": percentile(predict_ms, 0.95),
                         "analysis_p50_ms": statistics.median(analysis_ms),
                         "analysis_p95_ms": percentile(analysis_ms, 0.95),
                         "long_read_ms": statistics.median(long_read),
                         "long_memory_ms": statistics.median(long_memory)}
    return results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_run(analyse_all: bool) -> dict:
    """Start `python app.py`, time the first HTTP 200, optionally call /analyze on every model, read RSS."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
            if time.perf_counter() - start > 120:
                raise TimeoutError("no HTTP 200 within 120 s")
        startup = time.perf_counter() - start
        out = {"startup_s": startup}
        if analyse_all:
            from gradio_client import Client

            client = Client(url, verbose=False)
            for name in Registry(ROOT / "checkpoints").names:
                client.predict(EXAMPLES[0], name, api_name="/analyze")
            p = psutil.Process(proc.pid)
            out["rss_mb"] = sum(x.memory_info().rss for x in [p, *p.children(recursive=True)]) / 2**20
        return out
    finally:
        stop_server(proc)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python bench/bench_app.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=200, help="timed calls per model and measurement")
    p.add_argument("--startup-runs", type=int, default=3, help="cold starts of `python app.py` to time (0: skip)")
    p.add_argument("--checkpoints", default=str(ROOT / "checkpoints"), help="checkpoint folder")
    p.add_argument("--out", default=str(ROOT / "bench_results" / "app.json"), help="where to write the JSON report")
    args = p.parse_args(argv)

    per_model = in_process(Path(args.checkpoints), args.iterations)
    runs = [server_run(analyse_all=(i == 0)) for i in range(args.startup_runs)]
    summary = {
        "predict_p50_ms": max(m["predict_p50_ms"] for m in per_model.values()),
        "analysis_p50_ms": max(m["analysis_p50_ms"] for m in per_model.values()),
        "long_read_ms": max(m["long_read_ms"] for m in per_model.values()),
        "long_memory_ms": max(m["long_memory_ms"] for m in per_model.values()),
    }
    if runs:
        summary["startup_s"] = statistics.median(r["startup_s"] for r in runs)
        summary["rss_mb"] = runs[0]["rss_mb"]
    report = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "torch_threads": 1, "load_average": os.getloadavg()},
        "iterations": args.iterations, "per_model": per_model, "startup_runs": runs,
        "summary_worst_model": summary, "targets": TARGETS,
    }
    print(f"{'model':<22}{'predict p50':>13}{'p95':>9}{'analysis p50':>15}{'p95':>9}"
          f"{'300 words: Read':>18}{'memory':>9}   (ms)")
    for name, m in per_model.items():
        print(f"{name:<22}{m['predict_p50_ms']:>13.2f}{m['predict_p95_ms']:>9.2f}"
              f"{m['analysis_p50_ms']:>15.2f}{m['analysis_p95_ms']:>9.2f}"
              f"{m['long_read_ms']:>18.0f}{m['long_memory_ms']:>9.0f}")
    print()
    for key, value in summary.items():
        ok = "ok" if value <= TARGETS[key] else "OVER TARGET"
        print(f"{key:<18}{value:>10.2f}   target <= {TARGETS[key]:g}   {ok}")
    print(f"load average during the run: {report['machine']['load_average']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
