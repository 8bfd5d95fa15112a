"""The lesson widget as a self-contained static site: `python -m export --web DIR [--models ...]`.

The site runs every model in the learner's browser on ONNX Runtime Web (WASM); no server code,
nothing fetched at run time. `python -m http.server -d DIR` (or any static host) serves it.

    DIR/index.html widget.js reader.js tokenizer.js input_rule.js widget.css embed.js   from web/ (the widget sources)
    DIR/vendor/ort.wasm.bundle.min.mjs, ort-wasm-simd-threaded.wasm, plotly-basic.min.js
                                     from web/node_modules (pinned in web/package-lock.json;
                                     `npm ci --prefix web` installs them)
    DIR/site.json                    manifest: models, classes, languages, examples, versions
    DIR/locales/LANG.json            page/locales (the page's translation files), copied
    DIR/lowercase.json               Python's str.lower() tables: per character, and the cased /
                                     case-ignorable sets of the final-sigma rule (web/tokenizer.js)
    DIR/vocab/SHA12.json             the vocabulary (shared by models with the same tokenizer)
    DIR/models/NAME.onnx             logits + per-step states (`export --states`), shrunk:
                                     the (V, E) embedding stored as int8 with one fp32 scale per row,
                                     the other large weights as float16
    DIR/models/NAME.json             config, class names and the app's stored projection
                                     (PCA mean/components per direction, the reference cloud)

Only recurrent models are built (a bag of embeddings has no hidden state to draw); a model
without a current stored projection is skipped with a message (its trajectory would not be the
app's). Imports here are light at module level so the app can call `widget_index()` cheaply.
"""
from __future__ import annotations

import html
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from page.i18n import class_key

ROOT = Path(__file__).resolve().parents[1]
WEB_SOURCES = ROOT / "web"
SITE_FORMAT = "rnn_demo.web/1"
SITE_MANIFEST = "site.json"  # written last: a folder without it is not a finished site
SITE_MARKER = ".rnn_demo_web"  # written first: lets a rebuild clear a half-written folder
SOURCE_FILES = ("index.html", "widget.js", "reader.js", "tokenizer.js", "input_rule.js", "widget.css", "embed.js")
# npm package -> files copied from its folder in node_modules into DIR/vendor/.
VENDORED = {
    "onnxruntime-web": ("dist/ort.wasm.bundle.min.mjs", "dist/ort-wasm-simd-threaded.wasm"),
    "plotly.js-basic-dist-min": ("plotly-basic.min.js",),
}
# Copied as vendor/PACKAGE.FILE where the package has them: its licence and version record.
VENDORED_NOTICES = ("LICENSE", "package.json")
RECURRENT_CELLS = ("rnn", "lstm", "gru")
PRECISIONS = ("int8", "fp32")
DEFAULT_MODEL_MARKER = '<meta name="rnn-demo-default-model" content="">'
CAPITAL_SIGMA = 0x3A3  # lower-cased by context (final sigma) in tokenizer.js, not by table
CLOUD_DECIMALS = 4  # reference cloud coordinates: plenty for a faint scatter, a third of the bytes


class WebBuildError(RuntimeError):
    """The site cannot be built; the message says what is missing and how to get it."""


@dataclass
class SiteResult:
    out: Path
    models: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"wrote {self.out}/index.html with {len(self.models)} model(s); serve it with "
                 f"`python -m http.server -d {self.out}`"]
        for m in self.models:
            lines.append(f"  {m['name']}: {m['precision']} {m['onnx_bytes'] / 1e6:.2f} MB; int8 vs fp32 on the "
                         f"example headlines: max |logit diff| {m['quantization']['max_abs_logit_diff']:.2e}, "
                         f"same class {m['quantization']['same_argmax']}/{m['quantization']['headlines']}")
        lines += [f"  skipped {s}" for s in self.skipped]
        return "\n".join(lines)


# --------------------------------------------------------------------------- data for the widget

def lowercase_table() -> dict[str, str]:
    """{char: char.lower()} for every non-ASCII code point that str.lower() changes (Python's own
    Unicode tables; the capital sigma is left to tokenizer.js, which needs the context)."""
    table = {}
    for code in range(0x80, 0x110000):
        if 0xD800 <= code <= 0xDFFF or code == CAPITAL_SIGMA:
            continue
        ch = chr(code)
        lowered = ch.lower()
        if lowered != ch:
            table[ch] = lowered
    return table


def _ranges(codes: list[int]) -> list[list[int]]:
    """Sorted code points -> [[first, last], ...] runs."""
    runs: list[list[int]] = []
    for code in codes:
        if runs and runs[-1][1] == code - 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return runs


def sigma_context_tables() -> tuple[list[list[int]], list[list[int]]]:
    """Python's Cased and Case_Ignorable code points as the capital sigma sees them, measured from
    str.lower() itself (CPython does not expose the properties; JS's \\p{...} follow another
    Unicode version). For a character X, with Σ after a cased 'A':
        'AΣX'  -> σ  iff X is cased and not case-ignorable (else the sigma is final)
        'AΣXB' -> σ  iff X is case-ignorable (skipped, then B) or cased
    A case-ignorable character is always skipped, so whether it is also cased never matters.
    Returns (cased-and-not-ignorable ranges, case-ignorable ranges)."""
    cased, ignorable = [], []
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        ch = chr(code)
        alone = ("A\u03a3" + ch).lower()[1] == "\u03c3"
        before_letter = ("A\u03a3" + ch + "B").lower()[1] == "\u03c3"
        if alone:
            cased.append(code)
        elif before_letter:
            ignorable.append(code)
    return _ranges(cased), _ranges(ignorable)


def tokenizer_tables() -> dict:
    """The data web/tokenizer.js needs to lower-case exactly like Python (lowercase.json)."""
    cased, ignorable = sigma_context_tables()
    return {"python": sys.version.split()[0], "lower": lowercase_table(), "cased": cased,
            "case_ignorable": ignorable}


def read_locales() -> dict[str, dict[str, str]]:
    """{lang: {key: text}} of the page's translation files (page/locales), English first."""
    from page.i18n import LocaleError, languages, locales

    try:
        return {lang: locales()[lang] for lang in languages()}
    except LocaleError as exc:
        raise WebBuildError(str(exc)) from None


def vendored_versions(node_modules: Path) -> dict[str, str]:
    """Check web/node_modules holds exactly the pinned packages; {package: version}."""
    pins = json.loads((WEB_SOURCES / "package.json").read_text(encoding="utf-8"))["dependencies"]
    versions = {}
    for package in VENDORED:
        meta = node_modules / package / "package.json"
        if not meta.is_file():
            raise WebBuildError(f"{meta} is missing: install the pinned widget runtime with `npm ci --prefix web` "
                                "(needs node/npm and the npm registry, once; the built site needs neither)")
        version = json.loads(meta.read_text(encoding="utf-8"))["version"]
        if version != pins[package]:
            raise WebBuildError(f"{node_modules / package} is version {version}, web/package.json pins "
                                f"{pins[package]}: run `npm ci --prefix web`")
        versions[package] = version
    return versions


# --------------------------------------------------------------------------- model shrinking

def quantize_embedding(proto, vocab_size: int):
    """Store the (V, E) embedding table as int8 with a float32 scale per row, in place.

        Gather(W fp32 (V, E), tokens (B, T))                            -> (B, T, E)
    becomes
        Gather(Wq int8 (V, E), tokens) -> Cast(float) -> Mul(Gather(scale (V, 1), tokens)) -> (B, T, E)

    Symmetric per-row scale = max|row| / 127, so each weight is off by at most scale / 2. The table
    is ~95 % of a model's bytes; the recurrent and linear weights stay fp32. Uses only Gather, Cast
    and Mul, which every onnxruntime build (WASM included) runs.
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    inits = {init.name: init for init in graph.initializer}
    gathers = [n for n in graph.node if n.op_type == "Gather" and n.input[0] in inits
               and len(inits[n.input[0]].dims) == 2 and inits[n.input[0]].dims[0] == vocab_size]
    if len(gathers) != 1:
        raise WebBuildError(f"expected one embedding Gather over a ({vocab_size}, E) table, found {len(gathers)}")
    node = gathers[0]
    table_init = inits[node.input[0]]
    table = numpy_helper.to_array(table_init).astype(np.float32)  # (V, E)
    scale = np.abs(table).max(axis=1, keepdims=True) / 127.0  # (V, 1)
    scale[scale == 0] = 1.0  # all-zero rows (the padding row) stay exactly zero
    quantized = np.clip(np.rint(table / scale), -127, 127).astype(np.int8)
    base = table_init.name
    names = {"q": f"{base}.int8", "scale": f"{base}.row_scale", "rows": f"{base}/rows_int8",
             "rows_f": f"{base}/rows_float", "row_scale": f"{base}/row_scale_gathered"}
    graph.initializer.remove(table_init)
    graph.initializer.extend([numpy_helper.from_array(quantized, names["q"]),
                              numpy_helper.from_array(scale.astype(np.float32), names["scale"])])
    tokens, output = node.input[1], node.output[0]
    at = list(graph.node).index(node)
    graph.node.remove(node)
    new_nodes = [
        helper.make_node("Gather", [names["q"], tokens], [names["rows"]], name=f"{node.name}_int8", axis=0),
        helper.make_node("Cast", [names["rows"]], [names["rows_f"]], name=f"{node.name}_cast", to=TensorProto.FLOAT),
        helper.make_node("Gather", [names["scale"], tokens], [names["row_scale"]], name=f"{node.name}_scale", axis=0),
        helper.make_node("Mul", [names["rows_f"], names["row_scale"]], [output], name=f"{node.name}_dequantize"),
    ]
    for offset, new in enumerate(new_nodes):
        graph.node.insert(at + offset, new)
    return proto


def weights_to_fp16(proto, min_elements: int = 4096):
    """Store every large float32 weight (the recurrent and linear matrices) as float16, in place.

        W fp32 (4H, I)   becomes   W.fp16 (4H, I) -> Cast(float) -> W   (folded once at session start)

    Halves what is left after the int8 embedding (the build prints each model's size). Relative error per
    weight <= 2^-11; the test-set accuracy is measured by bench/bench_web.py.
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    casts = []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            continue
        weights = numpy_helper.to_array(init)
        half = weights.astype(np.float16)
        if not np.all(np.isfinite(half)):
            raise WebBuildError(f"weight {init.name} overflows float16 (max |w| {np.abs(weights).max():.3g})")
        graph.initializer.remove(init)
        graph.initializer.append(numpy_helper.from_array(half, f"{init.name}.fp16"))
        casts.append(helper.make_node("Cast", [f"{init.name}.fp16"], [init.name], name=f"{init.name}/to_float",
                                      to=TensorProto.FLOAT))
    for offset, node in enumerate(casts):
        graph.node.insert(offset, node)
    return proto


def _compare_precisions(fp32_path: Path, int8_path: Path, vocab, texts: list[str]) -> dict:
    """Both graphs on the given headlines (one batch): max |logit diff| and argmax agreement."""
    import numpy as np
    import onnxruntime as ort

    from rnn_demo.fast_tokenizer import encode_batch_np

    tokens, lengths = encode_batch_np(vocab, texts)
    feeds = {"tokens": tokens, "lengths": lengths}
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    run = lambda p: ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]).run(  # noqa: E731
        ["logits"], feeds)[0]
    a, b = run(fp32_path), run(int8_path)
    return {"headlines": len(texts), "max_abs_logit_diff": float(np.abs(a - b).max()),
            "same_argmax": int((a.argmax(1) == b.argmax(1)).sum())}


# --------------------------------------------------------------------------- per-model files

def _projection_json(projection) -> dict:
    """The stored projection as JSON: float32 values of mean/components, cloud rounded."""
    import numpy as np

    directions = []
    for d in range(projection.num_directions):
        ratios = (projection.meta.get("explained_variance_ratio") or [[]] * projection.num_directions)[d]
        directions.append({
            "mean": [float(np.float32(x)) for x in projection.means[d]],  # (H,)
            "components": [[float(np.float32(x)) for x in row] for row in projection.components[d]],  # (H, 3)
            "cloud": np.round(projection.clouds[d], CLOUD_DECIMALS).tolist(),  # (N, 3)
            "explained_variance_ratio": ratios,
        })
    return {"directions": directions, "labels": [int(x) for x in projection.labels]}


def build_model(ckpt, models_dir: Path, precision: str, examples: list[str]) -> dict:
    """Export one checkpoint with per-step states, shrink it, and write NAME.onnx + NAME.json."""
    import tempfile

    import onnx

    from rnn_demo.projection import load_projection

    from .onnx_export import export_checkpoint

    config = ckpt.config
    projection = load_projection(ckpt.path)
    if projection is None or not projection.is_current(ckpt.path):
        raise WebBuildError(f"{ckpt.name}: no stored projection for the current weights; build it with "
                            f"`python -m rnn_demo.projection --checkpoint {ckpt.path}`")
    target = models_dir / f"{ckpt.name}.onnx"
    with tempfile.TemporaryDirectory(prefix="rnn_demo_web_") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        # verified against PyTorch (export's own 1e-5 rule); a model that fails it is skipped, named
        export_checkpoint(ckpt, fp32, with_states=True, write_tokenizer=False)
        if precision == "int8":
            proto = weights_to_fp16(quantize_embedding(onnx.load(str(fp32)), config.vocab_size))
            onnx.checker.check_model(proto, full_check=True)
            onnx.save(proto, str(target))
            quant = _compare_precisions(fp32, target, ckpt.vocab, examples)
        else:
            shutil.copyfile(fp32, target)
            quant = {"headlines": len(examples), "max_abs_logit_diff": 0.0, "same_argmax": len(examples)}
    test = ckpt.test_metrics or {}
    meta = {
        "name": ckpt.name, "preset": ckpt.preset, "description": ckpt.description,
        "onnx": f"models/{target.name}", "precision": precision, "onnx_bytes": target.stat().st_size,
        "cell": config.cell, "bidirectional": config.bidirectional, "num_layers": config.num_layers,
        "num_directions": config.num_directions, "hidden_size": config.hidden_size, "pooling": config.pooling,
        "class_names": list(ckpt.class_names), "class_keys": [class_key(c) for c in ckpt.class_names],
        "test_accuracy": test.get("accuracy"),
        "projection": _projection_json(projection), "quantization": quant,
    }
    (models_dir / f"{ckpt.name}.json").write_text(json.dumps(meta, separators=(",", ":")), encoding="utf-8")
    return meta


# --------------------------------------------------------------------------- the site

def _prepare_out(out: Path) -> None:
    """Create `out`, or clear a previous build there; never delete a folder that is not a site."""
    if out.exists():
        if not out.is_dir():
            raise WebBuildError(f"{out} exists and is not a folder")
        if any(out.iterdir()) and not (out / SITE_MARKER).is_file():
            raise WebBuildError(f"{out} is not empty and is not a widget build ({SITE_MARKER} missing): "
                                "refusing to overwrite it")
        for child in out.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / SITE_MARKER).write_text("written by python -m export --web; this folder is replaced on rebuild\n",
                                   encoding="utf-8")


def build_site(out: str | Path, models: list[str] | None = None, checkpoints_dir: str | Path = "checkpoints",
               precision: str = "int8", node_modules: str | Path | None = None, log=print) -> SiteResult:
    """Write the widget site to `out` for the named checkpoints (default: every recurrent one)."""
    from rnn_demo.checkpoint import CheckpointError, discover_checkpoints, load_checkpoint
    from rnn_demo.catalog import EXAMPLES, default_model
    from rnn_demo.tokenizer import file_sha256

    from .onnx_export import ExportVerificationError

    if precision not in PRECISIONS:
        raise WebBuildError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    out, checkpoints_dir = Path(out), Path(checkpoints_dir)
    node_modules = Path(node_modules) if node_modules else WEB_SOURCES / "node_modules"
    versions = vendored_versions(node_modules)  # fail before the slow part
    locales = read_locales()
    folders = {f.name: f for f in discover_checkpoints(checkpoints_dir)}
    if models:
        unknown = [m for m in models if m not in folders]
        if unknown:
            raise WebBuildError(f"unknown model(s) {', '.join(unknown)}; checkpoints under {checkpoints_dir}: "
                                f"{', '.join(sorted(folders)) or 'none'}")
        folders = {m: folders[m] for m in models}
    _prepare_out(out)
    result = SiteResult(out)
    for sub in ("vendor", "locales", "vocab", "models"):
        (out / sub).mkdir()
    for name in SOURCE_FILES:
        shutil.copyfile(WEB_SOURCES / name, out / name)  # index.html is rewritten below, with the default
    for package, files in VENDORED.items():
        for rel in files:
            shutil.copyfile(node_modules / package / rel, out / "vendor" / Path(rel).name)
        for notice in VENDORED_NOTICES:
            if (node_modules / package / notice).is_file():
                shutil.copyfile(node_modules / package / notice, out / "vendor" / f"{package}.{notice}")
    for lang, strings in locales.items():
        (out / "locales" / f"{lang}.json").write_text(json.dumps(strings, ensure_ascii=False, indent=0),
                                                      encoding="utf-8")
    (out / "lowercase.json").write_text(json.dumps(tokenizer_tables(), ensure_ascii=False, separators=(",", ":")),
                                        encoding="utf-8")

    entries, class_names = [], None
    for name, folder in folders.items():
        try:
            ckpt = load_checkpoint(folder)
            if ckpt.config.cell not in RECURRENT_CELLS:
                raise WebBuildError(f"{name}: cell {ckpt.config.cell!r} has no hidden state to draw "
                                    f"(the widget shows recurrent models: {', '.join(RECURRENT_CELLS)})")
            sha = file_sha256(Path(folder) / "tokenizer.json")
            vocab_file = out / "vocab" / f"{sha[:12]}.json"
            if not vocab_file.exists():
                vocab_file.write_text(json.dumps({"pad_id": 0, "unk_id": 1, "sha256": sha,
                                                  "tokens": list(ckpt.vocab.tokens)}, ensure_ascii=False),
                                      encoding="utf-8")
            meta = build_model(ckpt, out / "models", precision, list(EXAMPLES))
            meta["vocab"] = f"vocab/{vocab_file.name}"
            (out / "models" / f"{name}.json").write_text(json.dumps(meta, separators=(",", ":")), encoding="utf-8")
        except (CheckpointError, WebBuildError, ExportVerificationError) as exc:
            reason = str(exc) if str(exc).startswith(name) else f"{name}: {exc}"
            result.skipped.append(reason)
            log(f"skipping {reason}")
            continue
        if class_names is not None and meta["class_names"] != class_names:
            raise WebBuildError(f"{name}: class names {meta['class_names']} differ from the other models' "
                                f"{class_names}; one site shows one set of classes")
        class_names = meta["class_names"]
        entries.append({"name": name, "meta": f"models/{name}.json", "vocab": meta["vocab"],
                        "description": meta["description"],
                        "bidirectional": meta["bidirectional"], "precision": precision})
        result.models.append(meta)
        log(f"{name}: {meta['onnx_bytes'] / 1e6:.2f} MB ({precision})")
    if not entries:
        raise WebBuildError("no model could be built for the widget:\n  " + "\n  ".join(result.skipped))
    missing = sorted({class_key(c) for c in class_names} - set(locales["en"]))
    if missing:
        raise WebBuildError(f"page/locales/en.json has no text for {', '.join(missing)}")
    names = [e["name"] for e in entries]
    manifest = {
        "format": SITE_FORMAT,
        "models": entries,
        "default_model": default_model(names),
        "class_names": class_names,
        "class_keys": [class_key(c) for c in class_names],
        "languages": list(locales),
        "language_names": {lang: strings.get("lang.name", lang) for lang, strings in locales.items()},
        "examples": list(EXAMPLES),
        "vendored": versions,
    }
    # The page starts the default model's download before anything else (see widget.js).
    index = (WEB_SOURCES / "index.html").read_text(encoding="utf-8")
    if DEFAULT_MODEL_MARKER not in index:
        raise WebBuildError(f"{WEB_SOURCES / 'index.html'} lacks {DEFAULT_MODEL_MARKER!r}")
    (out / "index.html").write_text(index.replace(DEFAULT_MODEL_MARKER, DEFAULT_MODEL_MARKER.replace(
        'content=""', f'content="{html.escape(manifest["default_model"])}"')), encoding="utf-8")
    (out / SITE_MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return result


# --------------------------------------------------------------------------- the app's link

def widget_index(folder: str | Path) -> Path | None:
    """index.html of a built widget site in `folder`, or None when there is none (cheap: no imports)."""
    index = Path(folder) / "index.html"
    return index if index.is_file() and (Path(folder) / SITE_MANIFEST).is_file() else None


def main(out: Path, models: list[str] | None, checkpoints_dir: Path, precision: str) -> int:
    """CLI body of `python -m export --web DIR` (see export/__main__.py)."""
    try:
        result = build_site(out, models, checkpoints_dir, precision)
    except WebBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0
