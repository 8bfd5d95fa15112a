"""Server memory under distinct long /analyze requests (goal: resident memory <= 700 MB).

    python bench/bench_memory.py                          # 2,000 requests, starts `python app.py` on port 7872
    RNN_DEMO_TRACE_CACHE_MB=0 python bench/bench_memory.py  # the same with the trace cache off
    python bench/bench_memory.py --per-model                # one long /analyze per model: what it adds
    python bench/bench_memory.py --startup                  # what the models take at start-up, in-process

Sends `--requests` distinct 200-word headlines (random words of the shipped vocabulary, so every
word is known and every request is a new cache key) to /analyze, rotating over every model, from
`--clients` concurrent clients, while a thread samples the server's resident memory (RSS, psutil)
every 0.25 s. Prints RSS after start-up, after each tenth of the requests, the peak and the end.

--per-model sends one such request per model, one at a time, 1.2 s apart (the app trims freed
memory once a second), sampling RSS every 5 ms: RSS before each request and its peak during it.
--startup loads the checkpoints in this process as the app does (page.registry.Registry) and prints
the RSS after the imports and after loading, whether loading imported torch._dynamo, how many
distinct vocabularies the models hold, and what one more copy of a vocabulary (with its
fast-tokenizer table) and importing torch._dynamo would add.
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
import psutil  # noqa: E402

from load import ROOT, call, model_names, rss_mb, start_server, stop_server  # noqa: E402

GOAL_MB = 700


def headline_words() -> list[str]:
    vocab = json.loads((ROOT / "checkpoints" / "lesson-rnn" / "tokenizer.json").read_text(encoding="utf-8"))
    return [t for t in vocab["tokens"][2:] if t.isalpha()]


def per_model(proc, url: str, log, words_per_headline: int) -> int:
    process = psutil.Process(proc.pid)
    peak = [0.0]
    stop = threading.Event()

    def sampler() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss / 2**20)
            stop.wait(0.005)

    threading.Thread(target=sampler, daemon=True).start()
    try:
        models, words = model_names(url), headline_words()
        rng = random.Random(0)
        print(f"| model | RSS before (MB) | peak during one {words_per_headline}-word /analyze (MB) | added (MB) |"
              "\n|---|---:|---:|---:|")
        with httpx.Client(base_url=url, timeout=300) as http:
            for name in models:
                text = " ".join(rng.choice(words) for _ in range(words_per_headline))
                time.sleep(1.2)
                before = rss_mb(proc.pid)
                peak[0] = 0.0
                kind, detail, _ = call(http, "analyze", [text, name])
                if kind != "ok":
                    print(f"{name}: {kind} {detail[:200]}")
                    return 1
                print(f"| {name} | {before:.0f} | {peak[0]:.0f} | {peak[0] - before:+.0f} |")
    finally:
        stop.set()
        stop_server(proc)
        log.close()
    return 0


def startup() -> int:
    import gc

    import gradio  # noqa: F401 - the app's imports, before anything is loaded
    import pandas  # noqa: F401
    import plotly  # noqa: F401
    import torch  # noqa: F401

    sys.path.insert(0, str(ROOT))
    from page.registry import Registry
    from rnn_demo.fast_tokenizer import fast_encoder
    from rnn_demo.tokenizer import Vocab

    me = psutil.Process()

    def mb() -> float:
        gc.collect()
        return me.memory_info().rss / 2**20

    imports = mb()
    registry = Registry(ROOT / "checkpoints")
    loaded = mb()
    print(f"RSS after the app's imports: {imports:.0f} MB; after loading {len(registry.names)} checkpoints: "
          f"{loaded:.0f} MB (+{loaded - imports:.0f})")
    print(f"torch._dynamo imported by loading: {'torch._dynamo' in sys.modules}")
    vocabs = {id(e.ckpt.vocab) for e in registry.entries.values()}
    print(f"distinct vocabularies held by the models: {len(vocabs)}")
    entry = next(iter(registry.entries.values()))
    copy = Vocab.load(entry.ckpt.path / "tokenizer.json")
    fast_encoder(copy)
    with_copy = mb()
    print(f"one more copy of a vocabulary and its fast-tokenizer table: +{with_copy - loaded:.1f} MB")
    import torch._dynamo  # noqa: F401
    print(f"importing torch._dynamo: +{mb() - with_copy:.0f} MB")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--words", type=int, default=200, help="words per headline")
    p.add_argument("--clients", type=int, default=2)
    p.add_argument("--port", type=int, default=7872)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--per-model", action="store_true", help="one long /analyze per model (see above)")
    mode.add_argument("--startup", action="store_true", help="start-up memory of the models (see above)")
    args = p.parse_args(argv)
    if args.startup:
        return startup()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still stops its server

    proc, url, log = start_server(args.port)
    if args.per_model:
        return per_model(proc, url, log, args.words)
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
