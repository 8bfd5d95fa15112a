"""How long the lesson's diagrams take to follow the stepper, measured in Chromium (Playwright + Debian chromium).

Starts `python app.py` itself on --port, opens the Read tab on --model as a deep link and prints, per
measure, the median / min / max over --runs page loads of the per-run median:

- diagrams per step: the time page/static/diagrams.js spends on one stepper move (the unrolled network's
  boxes, the cell's numbers), from window.rnnDiagramsState.stepTimes, 20 moves per run;
- diagrams per step, gate picked, heatmaps open: the same with a gate's equation rewritten on every
  step and the cell heatmaps drawn on the page (their gate frame stays put: a step moves no subplot);
- whole stepper move: the slider's input event -> the next painted frame, every Read view included
  (as bench/bench_page.py measures it), 20 moves per run;
- diagram build per Read: the network and the cell built for a new payload (window.rnnDiagramsState.buildTimes);
- packing step: one time step of the packing tab's lesson diagram (window.rnnDiagramsState.packTimes).

Goal: every step redraw of the diagrams <= 30 ms.

    python bench/bench_diagrams.py --runs 5 --model bilstm-2layer
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_page import ARGS, CHROMIUM, STEPS_JS  # noqa: E402  (bench/bench_page.py)
from load import start_server, stop_server  # noqa: E402  (bench/load.py)
from rnn_demo.catalog import EXAMPLES  # noqa: E402

GOAL_MS = 30
MOVES_JS = """async () => {
  const range = document.getElementById('stepper');
  const n = Number(range.max) + 1;
  for (let k = 0; k < 20; k++) {
    range.value = String(k % n);
    range.dispatchEvent(new Event('input', {bubbles: true}));
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  }
}"""


def _median_of(page, key: str, since: int = 0) -> float:
    return statistics.median(page.evaluate(f"window.rnnDiagramsState.{key}")[since:])


def measure(url: str, model: str, runs: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    names = ["diagrams per step (ms)", "diagrams per step, gate picked, heatmaps open (ms)", "whole stepper move (ms)",
             "diagram build per Read (ms)", "packing step (ms)"]
    out: dict[str, list[float]] = {k: [] for k in names}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(url + "?" + urlencode({"model": model, "text": EXAMPLES[0], "lang": "en"}))
            page.wait_for_function("() => { const s = window.rnnDiagramsState; return s && s.built && "
                                   "s.built === (window.rnnReaderState || {}).payload; }", timeout=120_000)
            page.wait_for_timeout(1500)  # the load chain's other tabs
            done = len(page.evaluate("window.rnnDiagramsState.stepTimes"))
            page.evaluate(MOVES_JS)
            out["diagrams per step (ms)"].append(_median_of(page, "stepTimes", done))
            out["whole stepper move (ms)"].append(statistics.median(page.evaluate(STEPS_JS)))
            gate = page.locator("#cell-svg [data-gate]").first
            if gate.count():
                gate.click()
                page.locator("#cells-section").get_by_role("button").first.click()
                page.wait_for_selector("#reader-cells .main-svg", timeout=30_000)
                page.wait_for_timeout(500)
                done = len(page.evaluate("window.rnnDiagramsState.stepTimes"))
                page.evaluate(MOVES_JS)
                out["diagrams per step, gate picked, heatmaps open (ms)"].append(_median_of(page, "stepTimes", done))
            out["diagram build per Read (ms)"].append(_median_of(page, "buildTimes"))
            page.get_by_role("tab", name="Why packing matters").first.click()
            page.wait_for_selector("#packing-diagram-box[data-drawn]", timeout=60_000)
            done = len(page.evaluate("window.rnnDiagramsState.packTimes"))
            for _ in range(8):
                page.locator("#pack-lesson .pack-next").click()
            out["packing step (ms)"].append(_median_of(page, "packTimes", done))
            page.close()
        browser.close()
    return {k: v for k, v in out.items() if v}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="page loads (the median of their medians is reported)")
    ap.add_argument("--model", default="bilstm-2layer", help="the model the Read tab opens on")
    ap.add_argument("--port", type=int, default=7903, help="port for the app this script starts")
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
    print(f"model {args.model}, {args.runs} runs, {os.cpu_count()} CPUs, load average {load_before:.1f} -> {load_after:.1f}")
    print("| measure | median | min | max |\n|---|---:|---:|---:|")
    for name, values in results.items():
        print(f"| {name} | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |")
    worst = max(statistics.median(v) for k, v in results.items() if "step" in k and "whole" not in k)
    print(f"slowest diagram step (median): {worst:.1f} ms, goal <= {GOAL_MS} ms: {'met' if worst <= GOAL_MS else 'missed'}")


if __name__ == "__main__":
    main()
