"""How quick the page feels, measured in Chromium (Playwright + Debian chromium), median of N runs.

Starts `python app.py` itself on --port, opens the page as a learner would and prints:

- first load: navigation -> every Read view drawn (answer bars, stepper, trajectory, prediction-as-it-reads,
  word importance, cell column) for the first example, opened as a deep link on --model;
- Read: click -> every view updated for another example headline (a different one each run, so no
  view is answered from the server's trace cache of the previous run), timed twice: by Playwright
  (its click and its polling included) and by the page's own clock (the button's click() -> the frame
  after every view shows the headline, checked on each animation frame);
- first load, by the page's clock: navigation start -> the same check, on each animation frame; and
  the longest main-thread task before it (Chromium's long-task entries: what keeps the page from
  handling anything else, e.g. evaluating Plotly);
- stepper move: one word further (the slider's input event) -> every linked view redrawn and painted
  (marker, bars, prefix band, cell column), median over 20 moves per run;
- 3-D toggle: click "3-D" -> the turned 3-D view drawn (its third axis on screen);
- bytes per Read: everything the browser received (all requests, as Chrome's network layer counts
  them) between the click and the last view updated.

Goals: Read <= 200 ms for bilstm, stepper move <= 30 ms, first load <= 2 s, 3-D toggle <= 300 ms,
<= 40 KB per Read.

    python bench/bench_page.py --runs 5 --model bilstm
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from load import start_server, stop_server  # noqa: E402  (bench/load.py)
from rnn_demo.catalog import EXAMPLES  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
GOALS = {"first load (s)": 2.0, "first load, page clock (s)": 2.0, "Read -> every view (ms)": 200,
         "Read, page clock (ms)": 200, "stepper move (ms)": 30, "3-D toggle (ms)": 300,
         "KB per Read": 40}

# every Read view shows this headline (the drawn views mark it once they are drawn: reader_page.js)
UPDATED_JS = """([h, w]) => {
  const t = (s) => (document.querySelector(s) || {innerText: ''}).innerText;
  const drawn = document.getElementById('reader-trajectory');
  return t('#answer').includes('%') && drawn && drawn.dataset.headline === h
      && t('#prefix').includes(w) && t('#importance').includes(w) && t('#step-words').includes(w)
      && document.querySelector('#trajectory .js-plotly-plot .main-svg') !== null;
}"""
# The page's own clock: from navigation start (first load) or from the click (Read) to the animation
# frame after every view shows the headline; no Playwright round trip is counted.
WATCH_JS = """(updated) => { window.__updated = new Function('return ' + updated)();
  window.__watch = (h, w, t0) => new Promise((done) => {
    const frame = () => window.__updated([h, w]) ? requestAnimationFrame(() => done(performance.now() - t0))
                                                 : requestAnimationFrame(frame);
    requestAnimationFrame(frame);
  }); }"""
FIRST_JS = """([h, w]) => { window.__firstDone = null; window.__longTasks = [];
  new PerformanceObserver((list) => list.getEntries().forEach((e) => window.__longTasks.push([e.startTime, e.duration])))
    .observe({ type: 'longtask', buffered: true });
  const check = () => { if (window.__watch) window.__watch(h, w, 0).then((t) => { window.__firstDone = t; });
                        else setTimeout(check, 5); };
  check(); }"""
READ_JS = """([h, w]) => { const t0 = performance.now(); document.querySelector('#read').click();
  return window.__watch(h, w, t0); }"""
# 20 slider moves, each timed from the input event to the next painted frame
STEPS_JS = """async () => {
  const range = document.getElementById('stepper');
  const n = Number(range.max) + 1, times = [];
  for (let k = 0; k < 20; k++) {
    const t0 = performance.now();
    range.value = String(k % n);
    range.dispatchEvent(new Event('input', {bubbles: true}));
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    times.push(performance.now() - t0);
  }
  return times;
}"""


def first_word(headline: str) -> str:
    return headline.split()[0].lower()


def measure(url: str, model: str, runs: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {k: [] for k in GOALS}
    out["first load, longest main-thread task (ms)"] = []  # no goal: it says where first load goes
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for run in range(runs):
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            # network counting from the start: a stream opened before counting began would go unseen
            received = []
            cdp = page.context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.on("Network.dataReceived", lambda e: received.append(e.get("encodedDataLength") or e["dataLength"]))
            first = EXAMPLES[0]
            # the page clock's watcher, installed before any of the page's own scripts run
            page.add_init_script(f"({WATCH_JS})({UPDATED_JS!r}); ({FIRST_JS})({[first, first_word(first)]!r});")
            t0 = time.perf_counter()
            page.goto(url + "?" + urlencode({"model": model, "lang": "en"}))
            page.wait_for_function(UPDATED_JS, arg=[first, first_word(first)], timeout=120_000, polling=20)
            out["first load (s)"].append(time.perf_counter() - t0)
            page.wait_for_function("window.__firstDone !== null", timeout=10_000)
            out["first load, page clock (s)"].append(page.evaluate("window.__firstDone") / 1000)
            out["first load, longest main-thread task (ms)"].append(page.evaluate(
                "Math.max(0, ...window.__longTasks.filter(([t]) => t < window.__firstDone).map(([, d]) => d))"))

            # the load chain goes on after the Read views are drawn (the linked tab, packing, the batching
            # figure, app.py): let it end, so that its bytes are not counted as the Read's
            quiet_since, seen = time.perf_counter(), len(received)
            while time.perf_counter() - quiet_since < 1.0:  # nothing received for a second
                page.wait_for_timeout(100)
                if len(received) != seen:
                    quiet_since, seen = time.perf_counter(), len(received)
            headline = EXAMPLES[1 + run % (len(EXAMPLES) - 1)]
            page.fill("#headlines textarea", headline)
            page.wait_for_timeout(200)
            received.clear()
            t0 = time.perf_counter()
            page.click("#read")
            page.wait_for_function(UPDATED_JS, arg=[headline, first_word(headline)], timeout=60_000, polling=10)
            out["Read -> every view (ms)"].append(1000 * (time.perf_counter() - t0))
            page.wait_for_timeout(300)  # late bytes of the same events (progress messages, end of stream)
            out["KB per Read"].append(sum(received) / 1024)
            # the same again with another headline, by the page's clock
            other = EXAMPLES[1 + (run + 1) % (len(EXAMPLES) - 1)]
            page.fill("#headlines textarea", other)
            page.wait_for_timeout(200)
            out["Read, page clock (ms)"].append(page.evaluate(READ_JS, [other, first_word(other)]))

            moves = page.evaluate(STEPS_JS)
            out["stepper move (ms)"].append(statistics.median(moves))

            t0 = time.perf_counter()
            page.locator("#dims label", has_text="3-D").click()
            page.wait_for_selector("#reader-trajectory.turnable", timeout=60_000)  # the 3-D axes drawn
            page.wait_for_function("document.getElementById('reader-cloud').data.some((t) => (t.text || []).join().includes('PC3'))",
                                   timeout=60_000, polling=5)
            out["3-D toggle (ms)"].append(1000 * (time.perf_counter() - t0))
            page.close()
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="runs per measure (median reported; at least 5 for the README)")
    ap.add_argument("--model", default="bilstm")
    ap.add_argument("--port", type=int, default=7902)
    args = ap.parse_args()
    if args.runs < 1:
        raise SystemExit("--runs must be >= 1")
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found (apt-get install chromium)")
    proc, _, log = start_server(args.port)
    try:
        load_before = os.getloadavg()[0]
        results = measure(f"http://127.0.0.1:{args.port}/", args.model, args.runs)
        load_after = os.getloadavg()[0]
    finally:
        stop_server(proc)
        log.close()
    if os.environ.get("BENCH_RAW"):
        print(results)
    print(f"model {args.model}, {args.runs} runs, {os.cpu_count()} CPUs, load average {load_before:.1f} -> {load_after:.1f}")
    print("| measure | median | min | max | goal |\n|---|---:|---:|---:|---:|")
    for name, values in results.items():
        fmt = "{:.2f}" if name.endswith("(s)") else "{:.0f}" if "ms" in name else "{:.1f}"
        med = statistics.median(values)
        goal = GOALS.get(name)
        mark = "" if goal is None else f"≤ {goal} ({'met' if med <= goal else 'missed'})"
        print(f"| {name} | {fmt.format(med)} | {fmt.format(min(values))} | {fmt.format(max(values))} | "
              f"{mark} |")


if __name__ == "__main__":
    main()
