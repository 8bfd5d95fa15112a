"""Load test: N concurrent clients x M requests each against a started app.

    python bench/load.py --clients 8 32 64 --requests 40             # starts `python app.py` on port 7871
    python bench/load.py --url http://127.0.0.1:7860/ --pid 1234 ...  # or an app you started yourself

Each client is a thread with its own HTTP connection that sends its requests one after another
through Gradio's queue (POST /gradio_api/call/<endpoint>, then reads the event stream), the way
gradio_client and the browser do. Requests rotate over every model and over `--endpoint`
(default: both /predict and /analyze), with short distinct headlines. Printed per client count:
requests/s, latency p50/p95/p99 of served requests, refused (HTTP 503 "Queue is full": the
overload policy) and failed (anything else) counts, and the server's resident memory (RSS)
before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("markets rally as central bank signals rate cuts striker scores twice in stoppage time "
         "chipmaker unveils faster processor peace talks resume after border clashes oil prices climb "
         "researchers find new species quarterly profits beat forecasts election results spark protests").split()


def start_server(port: int, env: dict | None = None, timeout: float = 180.0,
                 app_dir: Path = ROOT) -> tuple[subprocess.Popen, str, object]:
    """`python app.py` (in `app_dir`) on 127.0.0.1:port; returns (process, url, log file) once it answers HTTP 200."""
    url = f"http://127.0.0.1:{port}/"
    full = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a full pipe would block the server
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=app_dir, env=full, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise SystemExit(f"app.py exited with {proc.returncode}:\n{log.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc, url, log
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"app.py did not answer on {url} within {timeout}s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def rss_mb(pid: int) -> float:
    """Resident memory of the server and its children, MB."""
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


def model_names(url: str) -> list[str]:
    """The valid model names, from the app's own error message for an unknown one."""
    kind, detail, _ = call(httpx.Client(base_url=url, timeout=60), "predict", ["Stocks fall", "?"])
    if kind != "failed" or "valid models: " not in detail:
        raise SystemExit(f"cannot list the models from {url}: {kind} {detail[:200]}")
    return detail.split("valid models: ")[1].split('"')[0].strip().rstrip(".").split(", ")


def call(client: httpx.Client, endpoint: str, data: list) -> tuple[str, str, float]:
    """One request through the queue: ('ok' | 'refused' | 'failed', detail, seconds)."""
    start = time.perf_counter()
    try:
        r = client.post(f"gradio_api/call/{endpoint}", json={"data": data})
        if r.status_code == 503:
            return "refused", r.text, time.perf_counter() - start
        r.raise_for_status()
        event_id = r.json()["event_id"]
        event, payload = None, ""
        with client.stream("GET", f"gradio_api/call/{endpoint}/{event_id}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line[7:].strip()
                elif line.startswith("data: ") and event in ("complete", "error"):
                    payload = line[6:]
                    break
        kind = "ok" if event == "complete" else "failed"
        return kind, payload, time.perf_counter() - start
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return "failed", f"{type(exc).__name__}: {exc}", time.perf_counter() - start


def run_load(url: str, clients: int, requests: int, endpoints: list[str], models: list[str],
             seed: int = 0) -> dict:
    results: list[tuple[str, str, float]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client_loop(c: int) -> None:
        rng = random.Random(seed * 1000 + c)
        with httpx.Client(base_url=url, timeout=120) as http:
            barrier.wait()  # every client starts at once
            for i in range(requests):
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))
                endpoint = endpoints[(c + i) % len(endpoints)]
                model = models[(c * 7 + i) % len(models)]
                out = call(http, endpoint, [text, model])
                with lock:
                    results.append(out)

    threads = [threading.Thread(target=client_loop, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    served = np.array([s for k, _, s in results if k == "ok"]) * 1000
    failures = [d for k, d, _ in results if k == "failed"]
    return {
        "clients": clients, "requests": len(results), "seconds": wall,
        "served_per_s": len(served) / wall,
        "p50_ms": float(np.percentile(served, 50)) if len(served) else float("nan"),
        "p95_ms": float(np.percentile(served, 95)) if len(served) else float("nan"),
        "p99_ms": float(np.percentile(served, 99)) if len(served) else float("nan"),
        "refused": sum(k == "refused" for k, _, _ in results),
        "refused_max_ms": max((s * 1000 for k, _, s in results if k == "refused"), default=0.0),
        "failed": len(failures), "failure_sample": failures[:3],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="a running app; default: start `python app.py` on --port")
    p.add_argument("--pid", type=int, help="the running app's process id (for RSS) with --url")
    p.add_argument("--port", type=int, default=7871)
    p.add_argument("--clients", type=int, nargs="+", default=[8, 32, 64])
    p.add_argument("--requests", type=int, default=40, help="requests per client")
    p.add_argument("--endpoint", choices=["predict", "analyze", "both"], default="both")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still stops its server
    proc = None
    if args.url:
        url, pid = args.url.rstrip("/") + "/", args.pid
    else:
        proc, url, _ = start_server(args.port)
        pid = proc.pid
    try:
        endpoints = ["predict", "analyze"] if args.endpoint == "both" else [args.endpoint]
        models = model_names(url)
        load = os.getloadavg()[0]
        print(f"{url}: models {', '.join(models)}; endpoints {', '.join('/' + e for e in endpoints)}; "
              f"{os.cpu_count()} CPUs, load average {load:.1f} before the run")
        print("| clients | requests | req/s served | p50 ms | p95 ms | p99 ms | refused (slowest ms) | failed "
              "| RSS before MB | RSS after MB |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        rows = []
        for n in args.clients:
            before = rss_mb(pid) if pid else float("nan")
            r = run_load(url, n, args.requests, endpoints, models)
            r.update(rss_before_mb=before, rss_after_mb=rss_mb(pid) if pid else float("nan"),
                     load_average=os.getloadavg()[0])
            rows.append(r)
            print(f"| {n} | {r['requests']} | {r['served_per_s']:.1f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
                  f"{r['p99_ms']:.0f} | {r['refused']} ({r['refused_max_ms']:.0f}) | {r['failed']} | "
                  f"{r['rss_before_mb']:.0f} | {r['rss_after_mb']:.0f} |", flush=True)
            for sample in r["failure_sample"]:
                print(f"    failure: {sample[:200]}")
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    finally:
        if proc is not None:
            stop_server(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
