"""Benchmark the in-browser lesson widget: size on the wire, int8 accuracy, and speed in Chromium.

    python bench/bench_web.py                          # bilstm: sizes, accuracy, speed
    python bench/bench_web.py --models bilstm gru lesson-rnn --skip-speed
    python bench/bench_web.py --site web_site          # measure an existing build

Sizes: every file one model needs (runtime .wasm + .mjs, Plotly, widget sources, manifest,
tokenizer tables, vocabulary, one locale, the model) raw, gzip -9 and brotli -q 11 (what a static
host sends when it compresses). Accuracy: the shipped int8 graph against the fp32 export on the
full test set with Python onnxruntime (the browser runs the same file: the tests check logits
within 1e-5). Speed (Chromium, a local static server on 127.0.0.1:7895): first load to first
answer in a fresh browser context (cold cache), median of --runs; keystroke to trajectory
redrawn while typing headlines at --typing-delay ms per key, from the input event's timestamp
to the moment the trajectory's Plotly.react resolved.
"""
from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from export import web  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PORT = 7895
HEADLINES = [
    "Striker scores twice in stoppage time to keep title hopes alive",
    "Central bank raises interest rates as inflation climbs to a ten-year high",
    "Researchers unveil a chip that trains neural networks with a fraction of the power",
]
RUNTIME = ["index.html", "widget.js", "tokenizer.js", "widget.css", "site.json", "lowercase.json", "locales/en.json",
           "vendor/ort.wasm.bundle.min.mjs", "vendor/ort-wasm-simd-threaded.wasm", "vendor/plotly-basic.min.js"]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@functools.lru_cache(maxsize=None)  # the runtime files are shared by every model; brotli -q 11 is slow
def compressed(path: Path) -> tuple[int, int, int]:
    data = path.read_bytes()
    try:
        import brotli  # a dependency of gradio

        br = len(brotli.compress(data, quality=11))
    except ImportError:
        br = -1
    return len(data), len(gzip.compress(data, 9)), br


def sizes(site: Path, name: str) -> dict:
    meta = json.loads((site / "models" / f"{name}.json").read_text(encoding="utf-8"))
    files = RUNTIME + [meta["vocab"], f"models/{name}.json", meta["onnx"]]
    rows = {rel: compressed(site / rel) for rel in files}
    total = [sum(r[i] for r in rows.values()) for i in range(3)]
    return {"files": rows, "total": total, "model": rows[meta["onnx"]]}


def accuracy(site: Path, name: str, test_csv: Path, threads: int) -> dict:
    """Test-set accuracy of the site's graph and of the fp32 export, on onnxruntime (CPU)."""
    import numpy as np
    import onnxruntime as ort

    from export.onnx_export import export_checkpoint
    from rnn_demo.checkpoint import load_checkpoint
    from rnn_demo.data import read_dataset
    from rnn_demo.fast_tokenizer import encode_batch_np

    ckpt = load_checkpoint(ROOT / "checkpoints" / name)
    data = read_dataset(test_csv)
    order = np.argsort([len(t) for t in data.texts])  # length-sorted batches: little padding
    labels = np.asarray(data.labels)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads

    def predict(path: Path) -> np.ndarray:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        out = np.empty(len(order), dtype=np.int64)
        for start in range(0, len(order), 256):
            rows = order[start:start + 256]
            tokens, lengths = encode_batch_np(ckpt.vocab, [data.texts[i] for i in rows])
            out[rows] = session.run(["logits"], {"tokens": tokens, "lengths": lengths})[0].argmax(1)
        return out

    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = Path(tmp) / "fp32.onnx"
        export_checkpoint(ckpt, fp32_path, with_states=True, write_tokenizer=False)
        fp32 = predict(fp32_path)
    shipped = predict(site / "models" / f"{name}.onnx")
    return {"rows": len(labels), "fp32": float((fp32 == labels).mean()), "shipped": float((shipped == labels).mean()),
            "agree": float((fp32 == shipped).mean())}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def speed(site: Path, name: str, runs: int, typing_delay: int) -> dict:
    from playwright.sync_api import sync_playwright

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{PORT}/index.html?model={name}&lang=en"
    first_answer, first_drawn, keystrokes = [], [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for _ in range(runs):  # a fresh context each time: nothing cached
                context = browser.new_context(viewport={"width": 1366, "height": 900})
                page = context.new_page()
                page.goto(url)
                page.wait_for_function("window.rnnWidget && window.rnnWidget.marks.first_drawn", timeout=120_000)
                marks = page.evaluate("window.rnnWidget.marks")  # ms since navigation start
                first_answer.append(marks["first_answer"])
                first_drawn.append(marks["first_drawn"])
                context.close()
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(url)
            page.wait_for_function("window.rnnWidget && window.rnnWidget.marks.first_drawn", timeout=120_000)
            for headline in HEADLINES:
                page.fill("#text", "")
                page.wait_for_timeout(300)
                start = page.evaluate("window.rnnWidget.timings.length")
                page.click("#text")
                page.keyboard.type(headline, delay=typing_delay)
                page.wait_for_function("!window.rnnWidget.state.running && !window.rnnWidget.state.queued")
                keystrokes += page.evaluate(f"window.rnnWidget.timings.slice({start})")
            browser.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    keystrokes = [k for k in keystrokes if k["words"] > 0]
    traj = sorted(k["trajectory_ms"] for k in keystrokes)
    total = sorted(k["total_ms"] for k in keystrokes)
    pct = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]  # noqa: E731
    return {"first_answer_ms": statistics.median(first_answer), "first_answer_all": first_answer,
            "first_drawn_ms": statistics.median(first_drawn), "updates": len(keystrokes),
            "trajectory_ms_median": statistics.median(traj), "trajectory_ms_p90": pct(traj, 0.9),
            "all_views_ms_median": statistics.median(total), "all_views_ms_p90": pct(total, 0.9),
            "model_ms_median": statistics.median(k["model_ms"] for k in keystrokes)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python bench/bench_web.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["bilstm"], help="models to build and measure (default: bilstm)")
    p.add_argument("--site", type=Path, help="an existing build (python -m export --web DIR) instead of building one")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "ag_news" / "test.csv",
                   help="labelled test file for the accuracy check")
    p.add_argument("--runs", type=int, default=5, help="cold first loads to take the median of (default 5)")
    p.add_argument("--typing-delay", type=int, default=120, help="ms between typed keys (default 120)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads for the accuracy check (default 1)")
    p.add_argument("--skip-accuracy", action="store_true", help="do not score the test set")
    p.add_argument("--skip-speed", action="store_true", help="do not start Chromium")
    p.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = p.parse_args(argv)

    print(f"load average at start: {load_average()} (2-core VM; other jobs may share it)")
    with tempfile.TemporaryDirectory(prefix="bench_web_") as tmp:
        site = args.site
        if site is None:
            site = Path(tmp) / "site"
            started = time.perf_counter()
            web.build_site(site, args.models, ROOT / "checkpoints")
            print(f"built {site} in {time.perf_counter() - started:.1f} s")
        results = {"load_average_start": load_average(), "models": {}}
        print("\n| model | model file raw / gzip / brotli (MB) | one model + runtime raw / gzip / brotli (MB) |"
              "\n|---|---:|---:|")
        for name in args.models:
            s = sizes(site, name)
            results["models"][name] = {"sizes": s}
            mb = lambda xs: " / ".join(f"{x / 1e6:.2f}" for x in xs)  # noqa: E731
            print(f"| `{name}` | {mb(s['model'])} | {mb(s['total'])} |")
        if not args.skip_accuracy and args.data.is_file():
            print("\n| model | fp32 test acc | shipped (int8 embedding) test acc | Δ points | same answer |"
                  "\n|---|---:|---:|---:|---:|")
            for name in args.models:
                a = accuracy(site, name, args.data, args.threads)
                results["models"][name]["accuracy"] = a
                print(f"| `{name}` | {a['fp32']:.4f} | {a['shipped']:.4f} | {100 * (a['shipped'] - a['fp32']):+.2f} | "
                      f"{100 * a['agree']:.2f} % |")
        if not args.skip_speed:
            print("\n| model | first load → first answer (median) | → all drawn | keystroke → trajectory redrawn "
                  "median / p90 | → every view | model run |\n|---|---:|---:|---:|---:|---:|")
            for name in args.models:
                sp = speed(site, name, args.runs, args.typing_delay)
                results["models"][name]["speed"] = sp
                print(f"| `{name}` | {sp['first_answer_ms']:.0f} ms | {sp['first_drawn_ms']:.0f} ms | "
                      f"{sp['trajectory_ms_median']:.1f} / {sp['trajectory_ms_p90']:.1f} ms | "
                      f"{sp['all_views_ms_median']:.1f} ms | {sp['model_ms_median']:.1f} ms |")
                print(f"  ({sp['updates']} updates while typing; first answers {[round(x) for x in sp['first_answer_all']]})")
        results["load_average_end"] = load_average()
        print(f"\nload average at end: {results['load_average_end']}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
