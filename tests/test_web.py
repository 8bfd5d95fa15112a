"""The in-browser lesson widget (`python -m export --web DIR`): its tokenizer, its shrunk models and
the page itself, driven in Chromium with the network cut off, checked against Python.

Needs node (tokenizer tests), `npm ci --prefix web` (the vendored runtime; run here if npm is
present) and /usr/bin/chromium. Without them the tests skip, except under
RNN_DEMO_REQUIRE_BROWSER=1 (CI), where a missing tool fails them.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import parse_qs, quote, urljoin, urlparse

import numpy as np
import pytest

from export import web
from rnn_demo.checkpoint import discover_checkpoints
from rnn_demo.tokenizer import basic_english

ROOT = Path(__file__).resolve().parents[1]
TEST_CSV = ROOT.parent / "shared" / "data" / "ag_news" / "test.csv"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
REQUIRE = os.environ.get("RNN_DEMO_REQUIRE_BROWSER") == "1"
NODE, NPM = shutil.which("node"), shutil.which("npm")
SHIPPED = {f.name for f in discover_checkpoints(ROOT / "checkpoints")}
INT8_MODELS = ["bilstm", "lesson-lstm"]  # bidirectional + the lesson's pad-reading model
FP32_MODELS = ["lesson-lstm-packed"]
HEADLINES = [
    "Central bank raises interest rates as inflation climbs to a ten-year high",
    "Striker scores twice in stoppage time to keep title hopes alive",
    "Researchers unveil a chip that trains neural networks with a fraction of the power",
    "Peace talks resume in Geneva after weeks of border clashes",
    "Oil prices slip as OPEC weighs output cut",
]
PORT = 7891  # helper D's range (7890-7899)


def need(ok: bool, reason: str) -> None:
    """Skip locally when a tool is missing; fail under RNN_DEMO_REQUIRE_BROWSER=1 (CI)."""
    if not ok:
        if REQUIRE:
            pytest.fail(f"RNN_DEMO_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


# ----------------------------------------------------------------------------- tokenizer in node

def js_tokenize(texts: list[str], tmp_path: Path) -> list[list[str]]:
    """basic_english of web/tokenizer.js, run by node, on each text."""
    need(NODE is not None, "node is not installed (apt-get install nodejs)")
    table = tmp_path / "lowercase.json"
    if not table.exists():
        table.write_text(json.dumps(web.tokenizer_tables(), ensure_ascii=False), encoding="utf-8")
    payload = "".join(json.dumps(t) + "\n" for t in texts)
    done = subprocess.run([NODE, str(ROOT / "web" / "tokenize_cli.mjs"), str(table)], input=payload,
                          capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(out) == len(texts)
    return out


def mismatches(texts: list[str], tmp_path: Path) -> list[tuple[str, list[str], list[str]]]:
    return [(t, js, basic_english(t)) for t, js in zip(texts, js_tokenize(texts, tmp_path)) if js != basic_english(t)]


ADVERSARIAL = [
    "", " ", "\t\n", "...", "''", '""', "<br /><br />", "<BR />x<br/>y<br  />", "a<br />b",
    "don't \"quote\" (a), b! c? d; e: f.", "U.S. stocks: up 3.5% (NYSE)", "#39;s &quot;quoted&quot;",
    # Python's whitespace that JS's \s lacks, and JS's \s that Python's lacks (U+FEFF)
    "a\x1cb\x1dc\x1ed\x1fe\x85f", "a\ufeffb", "a\u2028b\u2029c\u3000d\u200be\u180ef\xa0g\u1680h",
    # lower-casing: dotted I, sharp s, Kelvin and Angstrom signs, titlecase digraphs, Greek sigma
    "İstanbul İ İİ", "STRASSE ẞ", "\u212a \u212b", "Ǆ ǅ ǆ ǈ", "ΟΔΟΣ ΟΔΟΣ. Σ ΑΣ'Α ΑΣ\u0301 Σ\u0301Α .Σ. ΣΣΣ",
    "ΌΣΟΣ ὈΔΥΣΣΕΎΣ", "\U00010400\U00010401 \U0001e900", "ＡＢＣ１２３", "I\u0307 i\u0307",
    # astral and odd characters, lone surrogates, control characters
    "emoji 😀👍🏽 family 👨‍👩‍👧", "\ud800 lone \udfff", "\x00\x01\x7f nul", "a\u0301e\u0308",
    # words that are Object.prototype names in JS
    "__proto__ constructor hasOwnProperty toString valueOf __defineGetter__",
    "한국어 뉴스 제목입니다", "日本語のニュース", "مرحبا بالعالم",
]


def test_js_whitespace_is_pythons(tmp_path):
    python_ws = {c for c in range(0x110000) if chr(c).isspace()}
    need(NODE is not None, "node is not installed")
    done = subprocess.run([NODE, "--input-type=module", "-e",
                           f"import {{ PY_WHITESPACE }} from {json.dumps((ROOT / 'web' / 'tokenizer.js').as_uri())};"
                           "console.log(JSON.stringify(Array.from(PY_WHITESPACE, (c) => c.codePointAt(0))))"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) == python_ws


def test_js_tokenizer_adversarial_strings(tmp_path):
    assert mismatches(ADVERSARIAL, tmp_path) == []


def test_js_tokenizer_every_code_point_in_context(tmp_path):
    """Every code point (surrogates excepted) between letters, after a capital and before a
    sigma: lower-casing, whitespace and punctuation rules agree with Python for each one."""
    texts = []
    for start in range(0, 0x110000, 4096):
        chars = [chr(c) for c in range(start, min(start + 4096, 0x110000)) if not 0xD800 <= c <= 0xDFFF]
        texts.append("".join(f"A{ch}b{ch}Σ {ch}" for ch in chars))
    assert mismatches(texts, tmp_path) == []


def test_js_tokenizer_matches_python_on_every_test_row(tmp_path):
    if not TEST_CSV.is_file():
        pytest.skip(f"{TEST_CSV} is not present")
    from rnn_demo.data import read_dataset

    texts = read_dataset(TEST_CSV).texts
    assert len(texts) == 7600
    bad = mismatches(texts, tmp_path)
    assert not bad, f"{len(bad)} of {len(texts)} rows differ, e.g. {bad[:2]}"


def test_lowercase_table_and_class_keys():
    table = web.lowercase_table()
    assert table["İ"] == "i̇" and table["\U00010400"] == "\U00010428" and table["ẞ"] == "ß"
    assert "Σ" not in table and not any(c.isascii() for c in table)
    assert web.class_key("Sci/Tech") == "class.sci_tech" and web.class_key("World") == "class.world"


# ----------------------------------------------------------------------------- shrinking

def test_quantize_embedding_is_a_per_row_int8_table():
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    table = rng.normal(size=(50, 8)).astype(np.float32)
    table[0] = 0.0  # the padding row
    table[7] *= 100.0  # a row with a large range must not spoil the others' precision
    graph = helper.make_graph(
        [helper.make_node("Gather", ["emb", "tokens"], ["out"], name="/embedding/Gather")], "g",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["B", "T"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["B", "T", 8])],
        [numpy_helper.from_array(table, "emb")])
    proto = web.quantize_embedding(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), 50)
    onnx.checker.check_model(proto, full_check=True)
    assert {i.name: i.data_type for i in proto.graph.initializer}["emb.int8"] == TensorProto.INT8
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    tokens = np.array([[0, 7, 3, 49], [1, 2, 7, 0]], dtype=np.int64)
    got = session.run(None, {"tokens": tokens})[0]
    want = table[tokens]
    bound = np.abs(table).max(axis=1)[tokens][..., None] / 127 / 2 + 1e-7  # half a step of each row
    assert np.all(np.abs(got - want) <= bound)
    assert np.all(got[tokens == 0] == 0.0)
    assert np.abs(got - want)[tokens != 7].max() < 0.02  # row 7's scale did not leak into the others


def test_large_weights_become_float16_behind_a_cast():
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    w = rng.normal(size=(64, 128)).astype(np.float32)  # large: converted
    b = rng.normal(size=(128,)).astype(np.float32)  # small: kept fp32
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 128])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    proto = web.weights_to_fp16(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8))
    types = {i.name: i.data_type for i in proto.graph.initializer}
    assert types == {"w.fp16": TensorProto.FLOAT16, "b": TensorProto.FLOAT}
    x = rng.normal(size=(2, 64)).astype(np.float32)
    got = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    want = x @ w.astype(np.float16).astype(np.float32) + b
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.abs(got - (x @ w + b)).max() < 0.05  # and close to the fp32 result


def test_build_refuses_to_clear_a_folder_that_is_not_a_site(tmp_path):
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(web.WebBuildError, match="refusing"):
        web._prepare_out(tmp_path)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_build_names_a_missing_runtime(tmp_path):
    with pytest.raises(web.WebBuildError, match="npm ci --prefix web"):
        web.build_site(tmp_path / "site", ["bilstm"], ROOT / "checkpoints", node_modules=tmp_path / "nothing")


# ----------------------------------------------------------------------------- built sites

def ensure_node_modules() -> None:
    modules = ROOT / "web" / "node_modules"
    try:
        web.vendored_versions(modules)
        return
    except web.WebBuildError:
        pass
    need(NPM is not None, "npm is not installed and web/node_modules is missing")
    done = subprocess.run([NPM, "ci", "--prefix", str(ROOT / "web"), "--no-audit", "--no-fund"],
                          capture_output=True, text=True, timeout=600)
    need(done.returncode == 0, f"`npm ci --prefix web` failed: {done.stderr[-2000:]}")


def _build(tmp_path_factory, models, precision):
    missing = [m for m in models if m not in SHIPPED]
    if missing:
        pytest.skip(f"checkpoints {missing} are not shipped")
    ensure_node_modules()
    out = tmp_path_factory.mktemp(f"site_{precision}")
    result = web.build_site(out, models, ROOT / "checkpoints", precision=precision, log=lambda *_: None)
    assert [m["name"] for m in result.models] == models, result.skipped
    return out


@pytest.fixture(scope="module")
def int8_site(tmp_path_factory):
    return _build(tmp_path_factory, INT8_MODELS, "int8")


@pytest.fixture(scope="module")
def fp32_site(tmp_path_factory):
    return _build(tmp_path_factory, FP32_MODELS, "fp32")


def test_site_is_self_contained(int8_site):
    manifest = json.loads((int8_site / "site.json").read_text(encoding="utf-8"))
    assert [m["name"] for m in manifest["models"]] == INT8_MODELS
    assert set(manifest["languages"]) >= {"en", "ko"}
    for rel in ("index.html", "widget.js", "tokenizer.js", "embed.js", "lowercase.json", "locales/ko.json",
                "vendor/ort.wasm.bundle.min.mjs", "vendor/ort-wasm-simd-threaded.wasm", "vendor/plotly-basic.min.js"):
        assert (int8_site / rel).is_file(), rel
    for rel in ("index.html", "widget.js", "tokenizer.js", "widget.css"):  # nothing loads from elsewhere
        text = (int8_site / rel).read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, rel


def test_shipped_projection_is_the_apps(int8_site):
    from rnn_demo.projection import load_projection

    meta = json.loads((int8_site / "models" / "bilstm.json").read_text(encoding="utf-8"))
    proj = load_projection(ROOT / "checkpoints" / "bilstm")
    assert len(meta["projection"]["directions"]) == proj.num_directions == 2
    for d, direction in enumerate(meta["projection"]["directions"]):
        np.testing.assert_allclose(direction["mean"], proj.means[d], atol=1e-7)
        np.testing.assert_allclose(direction["components"], proj.components[d], atol=1e-7)
        np.testing.assert_allclose(direction["cloud"], proj.clouds[d], atol=1e-4)
    assert meta["projection"]["labels"] == proj.labels.tolist()


def test_int8_model_is_small_and_agrees(int8_site):
    for name in INT8_MODELS:
        meta = json.loads((int8_site / "models" / f"{name}.json").read_text(encoding="utf-8"))
        assert meta["onnx_bytes"] < 2.0e6  # fp32: ~6 MB, nearly all of it the (22171, 64) table
        q = meta["quantization"]
        assert q["same_argmax"] == q["headlines"] and q["max_abs_logit_diff"] < 0.1


def test_non_recurrent_models_are_skipped_with_a_reason(tmp_path):
    bags = [n for n in SHIPPED if json.loads((ROOT / "checkpoints" / n / "config.json").read_text())["model"]["cell"]
            not in web.RECURRENT_CELLS]
    if not bags:
        pytest.skip("no non-recurrent checkpoint is shipped")
    ensure_node_modules()
    with pytest.raises(web.WebBuildError, match="no hidden state"):
        web.build_site(tmp_path / "site", bags[:1], ROOT / "checkpoints", log=lambda *_: None)


# ----------------------------------------------------------------------------- in Chromium

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def server(int8_site, fp32_site):
    """One static server (port 7891) for both sites: /int8/... and /fp32/..."""
    root = int8_site.parent / "served"
    root.mkdir(exist_ok=True)
    for name, site in (("int8", int8_site), ("fp32", fp32_site)):
        link = root / name
        if not link.exists():
            link.symlink_to(site, target_is_directory=True)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{PORT}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    need(CHROMIUM.exists(), "/usr/bin/chromium is not installed (apt-get install chromium)")
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def open_widget(browser, url, width=1366, height=900):
    """A page with every request outside the local server refused (the cable is pulled)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    errors, outside = [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def route(request_route):
        if request_route.request.url.startswith(f"http://127.0.0.1:{PORT}/"):
            request_route.continue_()
        else:
            outside.append(request_route.request.url)
            request_route.abort()
    page.route("**/*", route)
    page.goto(url)
    page.wait_for_function("document.getElementById('widget').getAttribute('aria-busy') === 'false' || "
                           "document.getElementById('status').classList.contains('error')", timeout=60_000)
    assert "error" not in (page.get_attribute("#status", "class") or ""), page.inner_text("#status")
    return page, errors, outside


def set_text(page, text):
    """Replace the headline as a paste would, and wait until the widget has drawn that text."""
    page.evaluate("t => { const el = document.getElementById('text'); el.value = t;"
                  " el.dispatchEvent(new Event('input', {bubbles: true})); }", text)
    wait_for_text(page, text)


def wait_for_text(page, text):
    page.wait_for_function("t => window.rnnWidget.last && window.rnnWidget.last.text === t && "
                           "!window.rnnWidget.state.running && !window.rnnWidget.state.queued", arg=text,
                           timeout=30_000)


class Reference:
    """Python onnxruntime on the very file the site ships, plus the app's projection."""

    def __init__(self, site: Path, name: str):
        import onnxruntime as ort

        from rnn_demo.checkpoint import load_checkpoint
        from rnn_demo.projection import load_projection

        self.meta = json.loads((site / "models" / f"{name}.json").read_text(encoding="utf-8"))
        self.session = ort.InferenceSession(str(site / "models" / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        self.ckpt = load_checkpoint(ROOT / "checkpoints" / name)
        self.projection = load_projection(ROOT / "checkpoints" / name)

    def run(self, text: str):
        ids = self.ckpt.vocab.encode(text)
        logits, states = self.session.run(None, {"tokens": np.array([ids], dtype=np.int64),
                                                 "lengths": np.array([len(ids)], dtype=np.int64)})
        hidden = self.meta["hidden_size"]
        coords = [self.projection.project(d, states[0, :, d * hidden:(d + 1) * hidden])
                  for d in range(self.meta["num_directions"])]
        return logits[0], coords

    def prefix_logits(self, text: str) -> np.ndarray:
        ids = self.ckpt.vocab.encode(text)
        return np.stack([self.session.run(["logits"], {"tokens": np.array([ids[:n]], dtype=np.int64),
                                                       "lengths": np.array([n], dtype=np.int64)})[0][0]
                         for n in range(1, len(ids) + 1)])


def fp32_torch_class(name: str, text: str) -> int:
    import torch

    from rnn_demo.checkpoint import load_checkpoint

    ckpt = load_checkpoint(ROOT / "checkpoints" / name)
    ids = ckpt.vocab.encode(text)
    with torch.inference_mode():
        return int(ckpt.model.eval()(torch.tensor([ids]), torch.tensor([len(ids)])).argmax())


def test_typing_updates_answer_and_trajectory_like_python(server, browser, int8_site):
    headline = "Striker scores twice in stoppage time to keep title hopes alive"
    page, errors, outside = open_widget(browser, f"{server}/int8/index.html?model=bilstm&lang=en&text=")
    page.click("#text")
    page.keyboard.type(headline, delay=15)  # every keystroke is an input event; no button
    wait_for_text(page, headline)
    assert page.evaluate("window.rnnWidget.timings.length") >= 2  # it redrew while typing
    ref = Reference(int8_site, "bilstm")
    logits, coords = ref.run(headline)
    last = page.evaluate("window.rnnWidget.last")
    assert last["tokens"] == basic_english(headline)
    assert np.abs(np.array(last["logits"]) - logits).max() <= 1e-5  # same file, two runtimes
    predicted = int(np.argmax(logits))
    assert predicted == fp32_torch_class("bilstm", headline)  # int8 keeps the fp32 model's answer
    assert page.inner_text("#answer") == ref.meta["class_names"][predicted]
    # what is drawn: the path layer's points are Python's projected states (backward: reading order)
    drawn = page.evaluate("(() => { const gd = document.getElementById('trajectory-path');"
                          " return gd.data.filter(t => t.mode === 'lines+markers').map(t => [t.x, t.y]); })()")
    assert len(drawn) == 2
    for d, (xs, ys) in enumerate(drawn):
        want = coords[d][::-1] if d == 1 else coords[d]
        np.testing.assert_allclose(xs, want[:, 0], atol=1e-4)
        np.testing.assert_allclose(ys, want[:, 1], atol=1e-4)
    # the prediction as it reads: per-prefix probabilities against Python, prefix by prefix
    prefix = np.array(page.evaluate("window.rnnWidget.last.prefix"))
    ref_prefix = ref.prefix_logits(headline)
    ref_prefix = np.exp(ref_prefix - ref_prefix.max(1, keepdims=True))
    np.testing.assert_allclose(prefix, ref_prefix / ref_prefix.sum(1, keepdims=True), atol=1e-5)
    assert not errors and not outside, (errors, outside)
    page.close()


def test_lesson_lstm_prefixes_read_no_padding(server, browser, int8_site):
    headline = "Chipmaker shares tumble after weak quarterly forecast"
    page, errors, _ = open_widget(browser, f"{server}/int8/index.html?model=bilstm&text=x")
    page.select_option("#model", "lesson-lstm")
    page.wait_for_function("window.rnnWidget.last && window.rnnWidget.last.model === 'lesson-lstm'")
    set_text(page, headline)
    ref = Reference(int8_site, "lesson-lstm")
    logits, _ = ref.run(headline)
    last = page.evaluate("window.rnnWidget.last")
    assert np.abs(np.array(last["logits"]) - logits).max() <= 1e-5
    ref_prefix = ref.prefix_logits(headline)
    ref_prefix = np.exp(ref_prefix - ref_prefix.max(1, keepdims=True))
    np.testing.assert_allclose(last["prefix"], ref_prefix / ref_prefix.sum(1, keepdims=True), atol=1e-5)
    # the address bar follows (debounced): model and text of what is on screen
    page.wait_for_function("t => { const q = new URLSearchParams(location.search);"
                           " return q.get('model') === 'lesson-lstm' && q.get('text') === t; }", arg=headline,
                           timeout=5_000)
    assert not errors
    page.close()


def test_fp32_logits_within_1e5_of_python_on_fixed_headlines(server, browser, fp32_site):
    name = FP32_MODELS[0]
    ref = Reference(fp32_site, name)
    page, errors, outside = open_widget(browser, f"{server}/fp32/index.html?model={name}")
    for headline in HEADLINES:
        set_text(page, headline)
        logits, coords = ref.run(headline)
        last = page.evaluate("window.rnnWidget.last")
        assert np.abs(np.array(last["logits"]) - logits).max() <= 1e-5, headline
        np.testing.assert_allclose(np.array(last["coords"][0]), coords[0], atol=1e-4)
        assert page.inner_text("#answer") == ref.meta["class_names"][int(np.argmax(logits))]
    assert not errors and not outside
    page.close()


def test_korean_deep_link_and_phone_width(server, browser, int8_site):
    ko = json.loads((ROOT / "page" / "locales" / "ko.json").read_text(encoding="utf-8"))
    headline = "Apple and Microsoft report record profits & new #1 chips"
    url = f"{server}/int8/index.html?model=bilstm&lang=ko&text={quote(headline)}"
    page, errors, _ = open_widget(browser, url, width=390, height=844)
    assert page.evaluate("document.documentElement.lang") == "ko"
    assert page.input_value("#text") == headline and page.input_value("#model") == "bilstm"
    logits, _ = Reference(int8_site, "bilstm").run(headline)
    keys = json.loads((int8_site / "site.json").read_text(encoding="utf-8"))["class_keys"]
    assert page.inner_text("#answer") == ko[keys[int(np.argmax(logits))]]
    assert ko["widget.trajectory_title"] in page.inner_text("main")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 2, f"page is {overflow}px wider than a phone screen"
    # the link to this view reproduces it
    link = page.get_attribute("#permalink", "href")
    query = parse_qs(urlparse(link).query)
    assert query["text"] == [headline] and query["lang"] == ["ko"] and query["model"] == ["bilstm"]
    # Korean text: no confident answer from unknown words; the page's input rule says why, in Korean
    set_text(page, "한국 증시가 크게 올랐다")
    assert page.inner_text("#answer") == ""
    assert ko["widget.not_english"] in page.inner_text("#notes")
    assert not errors
    page.close()


def test_injected_markup_is_shown_as_text(server, browser):
    page, errors, _ = open_widget(browser, f"{server}/int8/index.html?model=bilstm")
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    set_text(page, '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> zzqx stocks')
    assert page.evaluate("window.__xss") is None and not dialogs
    assert "<img" in page.inner_text("#notes")  # unknown words listed as plain text
    page.close()


def test_script_tag_embeds_the_widget_and_sizes_its_frame(server, browser, int8_site):
    lesson = int8_site.parent / "served" / "lesson.html"
    lesson.write_text('<!doctype html><html><body><h1>Lesson 5</h1><p>Try it:</p>'
                      '<script src="int8/embed.js" data-model="bilstm" data-lang="ko" '
                      'data-text="Olympic champion announces retirement"></script><p>After</p></body></html>',
                      encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.goto(f"{server}/lesson.html")
    frame_el = page.wait_for_selector("iframe")
    query = parse_qs(urlparse(frame_el.get_attribute("src")).query)
    assert query == {"model": ["bilstm"], "lang": ["ko"], "text": ["Olympic champion announces retirement"]}
    frame = frame_el.content_frame()
    frame.wait_for_function("document.getElementById('widget').getAttribute('aria-busy') === 'false'",
                            timeout=60_000)
    ko = json.loads((ROOT / "page" / "locales" / "ko.json").read_text(encoding="utf-8"))
    assert frame.inner_text("#answer") in {ko[k] for k in ko if k.startswith("class.")}
    # the widget reports its height and the frame follows, so the lesson shows it without a scrollbar
    page.wait_for_function("document.querySelector('iframe').style.height !== ''", timeout=10_000)
    height = page.evaluate("document.querySelector('iframe').getBoundingClientRect().height")
    inner = frame.evaluate("document.documentElement.scrollHeight")
    assert abs(height - inner) <= 2 and height > 1000
    page.close()


def test_app_serves_and_links_a_built_widget(int8_site, browser):
    """`python app.py` with a built folder (RNN_DEMO_WIDGET) links to it and serves its files."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = 7892
    env = {**os.environ, "RNN_DEMO_WIDGET": str(int8_site), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline, up = time.monotonic() + 120, False
        while time.monotonic() < deadline and not up:
            assert proc.poll() is None, "app.py exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                    up = True
            except OSError:
                time.sleep(0.5)
        assert up, "app.py did not answer"
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector('a[href$="/widget/"]', timeout=60_000)  # the page links to the widget's route
        link = urljoin(f"http://127.0.0.1:{port}/", page.get_attribute('a[href$="/widget/"]', "href"))
        assert str(int8_site) not in page.content()  # no server path anywhere on the page
        page.close()
        with urllib.request.urlopen(link, timeout=10) as r:
            assert b'id="answer"' in r.read()
        with urllib.request.urlopen(link + "vendor/ort-wasm-simd-threaded.wasm", timeout=30) as r:
            assert r.headers["content-type"] == "application/wasm"  # streaming compile needs it
    finally:
        proc.terminate()
        proc.wait(timeout=20)
