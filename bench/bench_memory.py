"""Server memory under distinct long /analyze requests (issue 9: resident memory <= 700 MB).

    python bench/bench_memory.py                          # 2,000 requests, starts `python app.py` on port 7872
    RNN_DEMO_TRACE_CACHE_MB=0 python bench/bench_memory.py  # the same with the trace cache off

Sends `--requests` distinct 200-word headlines (random words of the shipped vocabulary, so every
word is known and every request is a new cache key) to /analyze, rotating over every model, from
`--clients` concurrent clients, while a thread samples the server's resident memory (RSS, psutil)
every 0.25 s. Prints RSS after start-up, after each tenth of the requests, the peak and the end.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import ROOT, call, model_names, rss_mb, start_server, stop_server  # noqa: E402

GOAL_MB = 700


def headline_words() -> list[str]:
    vocab = json.loads((ROOT / "checkpoints" / "lesson-rnn" / "tokenizer.json").read_text(encoding="utf-8"))
    return [t for t in vocab["tokens"][2:] if t.isalpha()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--words", type=int, default=200, help="words per headline")
    p.add_argument("--clients", type=int, default=2)
    p.add_argument("--port", type=int, default=7872)
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still stops its server

    proc, url, log = start_server(args.port)
    samples: list[tuple[float, int, float]] = []  # (time, requests done, RSS MB)
    done = [0]
    failures: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def sampler() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter(), done[0], rss_mb(proc.pid)))
            stop.wait(0.25)

    try:
        models = model_names(url)
        words = headline_words()
        time.sleep(1.0)
        start_rss = rss_mb(proc.pid)
        print(f"{url}: {len(models)} models ({', '.join(models)}); {args.requests} distinct {args.words}-word "
              f"/analyze requests from {args.clients} clients; trace cache "
              f"{os.environ.get('RNN_DEMO_TRACE_CACHE_MB', 'default')} MB; {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}")
        watcher = threading.Thread(target=sampler, daemon=True)
        watcher.start()
        start = time.perf_counter()

        def client(c: int) -> None:
            rng = random.Random(c)
            with httpx.Client(base_url=url, timeout=300) as http:
                for i in range(c, args.requests, args.clients):
                    text = f"{i} " + " ".join(rng.choice(words) for _ in range(args.words - 1))
                    kind, detail, _ = call(http, "analyze", [text, models[i % len(models)]])
                    with lock:
                        done[0] += 1
                        if kind != "ok":
                            failures.append(f"{kind}: {detail[:200]}")

        threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - start
        end_rss = rss_mb(proc.pid)
    finally:
        stop.set()
        stop_server(proc)
        log.close()

    peak = max(s[2] for s in samples)
    print(f"\n| requests done | RSS MB |\n|---:|---:|\n| 0 (after start-up) | {start_rss:.0f} |")
    step = max(1, args.requests // 10)
    for mark in range(step, args.requests + 1, step):
        at = [s[2] for s in samples if s[1] >= mark]
        if at:
            print(f"| {mark:,} | {at[0]:.0f} |")
    print(f"| {args.requests:,} (end) | {end_rss:.0f} |")
    print(f"\npeak {peak:.0f} MB (goal <= {GOAL_MB} MB: {'met' if peak <= GOAL_MB else 'NOT met'}); "
          f"{args.requests / seconds:.1f} requests/s over {seconds:.0f} s; failed {len(failures)}; "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    for f in failures[:3]:
        print(f"    failure: {f}")
    return 0 if peak <= GOAL_MB and not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
