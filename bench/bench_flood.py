"""Flood every route a hostile client could use and report the server's peak memory per case.

    python bench/bench_flood.py                       # starts `python app.py` on port 7873, every case
    python bench/bench_flood.py --cases big chunked   # some cases only
    python bench/bench_flood.py --app-dir /tmp/old    # the same against another checkout (e.g. before a change)

Cases (goal: peak resident memory <= 700 MB in each):

    big        one 300 MB POST /gradio_api/call/predict announced by Content-Length
    chunked    one 300 MB POST /gradio_api/call/predict sent chunked (no Content-Length)
    six        six 100 MB POSTs at once
    many       400 POSTs of 1 MB, 8 at a time
    analyze    128 concurrent 200-word bilstm-2layer /analyze requests on each route that reaches the
               function: /gradio_api/call/analyze, /gradio_api/call/v2/analyze, /gradio_api/queue/join
               (fn_index), /gradio_api/run/analyze and /gradio_api/api/analyze (closed now: 404)
    unread     --unread (default 100) 200-word bilstm-2layer /analyze calls, one after another, whose
               results are never read: Gradio keeps each answer until it is read

Each body is valid JSON ({"data": ["xxx…", model]}), generated while it is sent, so the client holds
no copy. A thread samples the server's RSS (psutil, server and children) every 10 ms; a case
reports RSS before, its peak, RSS 2 s after, the most threads the server had, and what the
requests got (HTTP status counts; for the analyses: served / refused "Queue is full" / closed).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

from load import start_server  # bench/load.py

ROOT = Path(__file__).resolve().parents[1]
GOAL_MB = 700
MB = 2**20
CASES = ("big", "chunked", "six", "many", "analyze", "unread")
ROUTES = ("call", "call/v2", "queue/join", "run", "api")  # under /gradio_api/


class Sampler:
    """The server's RSS (MB) and thread count, sampled every 10 ms while a case runs."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = self.threads = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> float:
        procs = [self.proc, *self.proc.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / MB

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.rss())
                self.threads = max(self.threads, self.proc.num_threads())
            except psutil.Error:
                return
            self._stop.wait(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def json_body(size: int, model: str):
    """(Content-Length, chunks of 1 MB) of {"data": ["xxx…", model]} with `size` bytes in all."""
    head, tail = b'{"data": ["', b'", "' + model.encode() + b'"]}'
    fill = size - len(head) - len(tail)

    def chunks():
        yield head
        left = fill
        while left > 0:
            n = min(MB, left)
            yield b"x" * n
            left -= n
        yield tail

    return size, chunks()


class Answered(Exception):
    """The server answered while the body was still being sent."""


def raw_post(url: str, path: str, size: int, model: str, chunked: bool = False) -> tuple[int | None, int]:
    """POST a generated body over a socket, stopping when the server answers: (status, bytes sent)."""
    host, port = url.split("//")[1].strip("/").split(":")
    length, chunks = json_body(size, model)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}"
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    sent, answer = 0, b""
    with socket.create_connection((host, int(port)), timeout=300) as sock:
        sock.sendall(head.encode())
        sock.setblocking(False)
        try:
            for chunk in chunks:
                data = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
                view = memoryview(data)
                while view:
                    try:
                        answer += sock.recv(65536)
                    except BlockingIOError:
                        pass
                    if answer:
                        raise Answered
                    try:
                        n = sock.send(view[:262144])
                    except BlockingIOError:
                        time.sleep(0.001)
                        continue
                    view, sent = view[n:], sent + n
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except (Answered, BrokenPipeError, ConnectionResetError):
            pass
        sock.setblocking(True)
        sock.settimeout(300)
        try:
            while b"\r\n\r\n" not in answer:
                part = sock.recv(65536)
                if not part:
                    break
                answer += part
        except (OSError, socket.timeout):
            pass
    status = int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else None
    return status, sent


def headline(rng: random.Random, words: list[str], n: int = 200) -> str:
    return " ".join(rng.choice(words) for _ in range(n))


def vocabulary(app_dir: Path) -> list[str]:
    tokens = json.loads((app_dir / "checkpoints" / "lesson-rnn" / "tokenizer.json").read_text(encoding="utf-8"))["tokens"]
    return [t for t in tokens[2:] if t.isalpha()]


def analyze_fn_index(url: str) -> int:
    info = httpx.get(url + "config", timeout=30).json()
    return next(d["id"] for d in info["dependencies"] if d.get("api_name") == "analyze")


def analyze_once(url: str, route: str, text: str, model: str, fn_index: int, read: bool = True) -> str:
    """One /analyze through `route`: 'served', 'refused' (queue full), 'closed' (404) or 'failed ...'."""
    with httpx.Client(base_url=url, timeout=300) as http:
        try:
            if route in ("call", "call/v2"):
                body = {"data": [text, model]} if route == "call" else {"text": text, "model": model}
                r = http.post(f"gradio_api/{route}/analyze", json=body)
                if r.status_code != 200:
                    return {503: "refused", 404: "closed"}.get(r.status_code, f"failed {r.status_code}")
                if not read:
                    return "unread"
                with http.stream("GET", f"gradio_api/call/analyze/{r.json()['event_id']}") as s:
                    events = [line for line in s.iter_lines() if line.startswith("event: ")]
                return "served" if events and events[-1] == "event: complete" else f"failed {events[-1:]}"
            if route == "queue/join":
                session = f"flood-{random.random()}"
                r = http.post("gradio_api/queue/join", json={"data": [text, model], "fn_index": fn_index,
                                                            "session_hash": session})
                if r.status_code != 200:
                    return {503: "refused", 404: "closed"}.get(r.status_code, f"failed {r.status_code}")
                with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as s:
                    for line in s.iter_lines():
                        if line.startswith("data:") and '"process_completed"' in line:
                            return "served" if json.loads(line[5:]).get("success") else "failed"
                return "failed (no answer)"
            r = http.post(f"gradio_api/{route}/analyze", json={"data": [text, model]})  # run, api: outside the queue
            return "served" if r.status_code == 200 else {404: "closed"}.get(r.status_code, f"failed {r.status_code}")
        except httpx.HTTPError as exc:
            return f"failed {type(exc).__name__}"


def run_case(name: str, url: str, pid: int, words: list[str], unread_calls: int = 100,
             routes: tuple[str, ...] = ROUTES) -> list[dict]:
    rows = []

    def measure(label: str, work) -> None:
        time.sleep(1.5)  # the app trims freed memory once a second
        sampler = Sampler(pid)
        before = sampler.rss()
        start = time.perf_counter()
        with sampler:
            outcome = work()
        seconds = time.perf_counter() - start
        time.sleep(2.0)
        rows.append(dict(case=label, before=before, peak=max(sampler.peak, before), after=sampler.rss(),
                         threads=int(sampler.threads), outcome=outcome, seconds=seconds))
        r = rows[-1]
        print(f"| {label} | {r['before']:.0f} | {r['peak']:.0f} | {r['after']:.0f} | {r['threads']} | "
              f"{r['outcome']} | {seconds:.1f} |", flush=True)

    def statuses(results) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(Counter(map(str, results)).items()))

    predict = "gradio_api/call/predict"
    if name == "big":
        measure("one 300 MB body, Content-Length", lambda: statuses(
            [f"HTTP {s} after {sent / MB:.1f} MB sent" for s, sent in [raw_post(url, "/" + predict, 300 * MB, "gru")]]))
    elif name == "chunked":
        measure("one 300 MB body, chunked", lambda: statuses(
            [f"HTTP {s} after {sent / MB:.1f} MB sent" for s, sent in
             [raw_post(url, "/" + predict, 300 * MB, "gru", chunked=True)]]))
    elif name == "six":
        def six():
            with ThreadPoolExecutor(6) as pool:
                return statuses(f"HTTP {s}" for s, _ in pool.map(lambda _: raw_post(url, "/" + predict, 100 * MB, "gru"),
                                                                range(6)))
        measure("six 100 MB bodies at once", six)
    elif name == "many":
        def many():
            with ThreadPoolExecutor(8) as pool:
                return statuses(f"HTTP {s}" for s, _ in pool.map(lambda _: raw_post(url, "/" + predict, MB, "gru"),
                                                                range(400)))
        measure("400 bodies of 1 MB, 8 at a time", many)
    elif name == "analyze":
        fn = analyze_fn_index(url)
        for route in routes:
            rng = random.Random(route)
            texts = [headline(rng, words) for _ in range(128)]

            def flood(route=route, texts=texts):
                with ThreadPoolExecutor(128) as pool:
                    return statuses(pool.map(lambda t: analyze_once(url, route, t, "bilstm-2layer", fn), texts))
            measure(f"128 concurrent 200-word bilstm-2layer /analyze, /gradio_api/{route}", flood)
    elif name == "unread":
        def unread():
            rng, out = random.Random(1), []
            for _ in range(unread_calls):
                while True:  # one at a time into the queue, never reading a result
                    got = analyze_once(url, "call", headline(rng, words), "bilstm-2layer", 0, read=False)
                    if got != "refused":
                        break
                    time.sleep(0.2)
                out.append(got)
            time.sleep(10)  # the last ones finish
            return statuses(out)
        measure(f"{unread_calls} 200-word bilstm-2layer /analyze whose results are never read", unread)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--port", type=int, default=7873)
    p.add_argument("--app-dir", type=Path, default=ROOT, help="the checkout whose app.py is started")
    p.add_argument("--routes", nargs="+", choices=ROUTES, default=list(ROUTES), help="routes of the 'analyze' case")
    p.add_argument("--unread", type=int, default=100, help="calls in the 'unread' case")
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still stops its server
    proc, url, log = start_server(args.port, app_dir=args.app_dir)
    rows = []
    try:
        print(f"{url} ({args.app_dir}); {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
        print("| case | RSS before (MB) | peak (MB) | 2 s after (MB) | most threads | requests got | seconds |")
        print("|---|---:|---:|---:|---:|---|---:|")
        for case in args.cases:
            rows += run_case(case, url, proc.pid, vocabulary(args.app_dir), args.unread, tuple(args.routes))
            if proc.poll() is not None:
                print(f"the server exited with {proc.returncode}")
                break
        worst = max(r["peak"] for r in rows)
        print(f"worst peak {worst:.0f} MB: goal <= {GOAL_MB} MB {'met' if worst <= GOAL_MB else 'MISSED'}; "
              f"load average {os.getloadavg()[0]:.1f} at the end")
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
