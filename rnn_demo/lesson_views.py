"""The lesson's three views as pure functions: registry + typed text -> figures and Markdown.

Live numbers (the typed headline) are computed here from the PyTorch models; the test-set
numbers come from each checkpoint's lessons.json (written by `python -m rnn_demo.lessons`).
A missing, stale or damaged lessons.json is said on the page, never fatal: a damaged file
shows its error (naming the file) and the rest of the view still works.
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import torch

from . import inspect as ins
from . import lesson_plots
from . import plots
from .i18n import tr
from .page import lesson_order
from .checkpoint import WEIGHTS_FILE
from .lessons import (BATCHING_MODES, LESSONS_FILE, LessonsError, final_state_sensitivity, load_lessons,
                      shuffle_words)
from .tokenizer import UNK_ID

REBUILD = "python -m rnn_demo.lessons --all --data ../shared/data/ag_news/test.csv"

# The views' explanations and every text below are in rnn_demo/locales/*.json (help.*, lesson.*).


_LOADED: dict = {}  # folder -> (file stamps, result): the weights' sha256 is not recomputed per request


def _stamp(path: Path) -> tuple:
    try:
        st = path.stat()
    except OSError:
        return (None,)
    return (st.st_mtime_ns, st.st_size)


def _load_cached(folder: Path):
    """load_lessons(folder), re-read only when lessons.json or the weights file changed on disk."""
    stamps = (_stamp(folder / LESSONS_FILE), _stamp(folder / WEIGHTS_FILE))
    cached = _LOADED.get(folder)
    if cached is not None and cached[0] == stamps:
        return cached[1]
    try:
        result = load_lessons(folder)
    except LessonsError as exc:
        result = exc
    _LOADED[folder] = (stamps, result)
    return result


def _lessons_for(entry) -> tuple[object | None, str]:
    """(Lessons or None, note for the page): missing, stale and damaged files are explained, not raised."""
    folder = Path(entry.ckpt.path)
    lessons = _load_cached(folder)
    if isinstance(lessons, LessonsError):
        return None, tr("lesson.unavailable", model=entry.name, error=lessons)
    if lessons is None:
        return None, tr("lesson.missing", model=entry.name, command=REBUILD)
    if not lessons.current:
        return lessons, tr("lesson.stale", model=entry.name, command=REBUILD)
    return lessons, ""


def _notes(notes: list[str]) -> str:
    return "\n".join(f"- _{html.escape(n)}_" for n in dict.fromkeys(n for n in notes if n))


@torch.inference_mode()
def _probs_for_ids(model, ids: list[int]) -> np.ndarray:
    """(C,) class probabilities for one headline given as token ids (no padding involved)."""
    logits = model(torch.tensor([ids], dtype=torch.long), torch.tensor([len(ids)], dtype=torch.long))
    return torch.softmax(logits, dim=-1)[0].numpy()


def headline_variants(vocab, headline: str, seed: int) -> dict[str, list[str]]:
    """The headline's words as written, reversed and shuffled (seeded), as the tokenizer splits them."""
    words, _, _ = ins.encode_one(vocab, headline)
    return {"as written": words, "reversed": words[::-1], "shuffled": shuffle_words(words, seed)}


def word_order_probabilities(entry, variants: dict[str, list[str]]) -> np.ndarray:
    """(3, C): the model's probabilities for each variant (as written, reversed, shuffled)."""
    vocab = entry.ckpt.vocab
    rows = []
    for words in variants.values():
        ids = [vocab.lookup(w) for w in words] or [UNK_ID]
        rows.append(_probs_for_ids(entry.ckpt.model, ids))
    return np.stack(rows)


def word_order_api(entry, headline: str, seed: int = 0) -> dict:
    """The `/analyze` field: reversed and shuffled words and the probabilities the model gives them."""
    variants = headline_variants(entry.ckpt.vocab, headline, seed)
    probs = word_order_probabilities(entry, variants)
    classes = entry.ckpt.class_names
    as_dict = lambda p: {c: round(float(v), 6) for c, v in zip(classes, p)}  # noqa: E731
    return {"reversed": {"words": variants["reversed"], "probabilities": as_dict(probs[1])},
            "shuffled": {"words": variants["shuffled"], "probabilities": as_dict(probs[2]), "seed": seed}}


def word_order_testset_table(reg) -> tuple[str, list[str]]:
    """Markdown table of every model's stored word-order measurements, plus notes."""
    # three columns, so the table stays readable at phone width
    lines = [tr("lesson.order_table"), "|---|---|---|"]
    notes = []
    for name in lesson_order(reg.names):
        lessons, note = _lessons_for(reg.get(name))
        notes.append(note)
        if lessons is None:
            lines.append(f"| {name} | – | – |")
            continue
        wo = lessons.word_order
        lines.append(f"| {name} | {100 * wo['accuracy']:.2f} / {100 * wo['reversed_accuracy']:.2f} / "
                     f"{100 * wo['shuffled_accuracy']:.2f} | {100 * wo['changed_by_reverse']:.1f} / "
                     f"{100 * wo['changed_by_shuffle']:.1f} |")
    return "\n".join(lines), notes


def word_order_view(reg, text: str, seed: int = 0):
    """(figure, Markdown): every model on the headline as written / reversed / shuffled, and the test-set table."""
    headlines, _ = _split(text)
    if not headlines:
        msg = tr("lesson.order_empty")
        return plots.message_figure(msg), msg
    first = next(iter(reg.entries.values()))
    variants = headline_variants(first.ckpt.vocab, headlines[0], seed)
    names = lesson_order(reg.names)
    probs = np.stack([word_order_probabilities(reg.get(n), variants) for n in names])  # (M, 3, C)
    fig = lesson_plots.word_order_figure(names, probs, reg.class_names)
    table, notes = word_order_testset_table(reg)
    label = {k: tr("lesson." + k.replace(" ", "_")) for k in variants}
    words = "\n".join(f"- **{label[k]}** ({tr('lesson.seed', seed=seed)}): {html.escape(' '.join(v))}"
                      if k == "shuffled" else f"- **{label[k]}**: {html.escape(' '.join(v))}" for k, v in variants.items())
    changed = [n for n, p in zip(names, probs) if len({int(np.argmax(r)) for r in p}) > 1]
    verdict = tr("lesson.order_changed", models=", ".join(changed)) if changed else tr("lesson.order_same")
    md = "\n\n".join([words, verdict, tr("lesson.testset"), table, _notes(notes)])
    return fig, md


def _split(text: str | None) -> tuple[list[str], list[str]]:
    from .service import split_headlines  # late import: service imports this module for analyze()

    return split_headlines(text)


def memory_values(entry, ids: list[int]) -> dict[str, np.ndarray] | None:
    """Per-token sensitivity per direction, or None for a model without hidden state (the bag)."""
    if not entry.ckpt.config.is_recurrent:
        return None
    return final_state_sensitivity(entry.ckpt.model, ids)


def memory_api(entry, ids: list[int]) -> list[float] | None:
    """One float per token for `/analyze`: ||d h_T / d x_t|| of the whole final state.

    For a bidirectional model the final state is [forward after the last word; backward after the
    first word], so the value is sqrt(forward^2 + backward^2), the Frobenius norm of the full Jacobian.
    """
    values = memory_values(entry, ids)
    if values is None:
        return None
    total = np.sqrt(sum(np.square(v) for v in values.values()))
    return [float(f"{v:.6g}") for v in total]


def memory_view(reg, text: str, model: str):
    """(per-word figure for the typed headline, test-set curves figure, Markdown)."""
    headlines, _ = _split(text)
    recurrent = [n for n in lesson_order(reg.names) if reg.get(n).ckpt.config.is_recurrent]
    colors = {n: lesson_plots.model_color(i) for i, n in enumerate(recurrent)}  # same colour in both charts
    notes = []
    entry = reg.get(model)
    if not entry.ckpt.config.is_recurrent:
        notes.append(tr("lesson.no_state", model=model))
    if not headlines:
        live = plots.message_figure(tr("lesson.memory_empty"))
    else:
        curves = {}
        for n in recurrent:
            e = reg.get(n)
            _, ids, _ = ins.encode_one(e.ckpt.vocab, headlines[0])
            curves[n] = memory_values(e, ids)
        tokens, _, _ = ins.encode_one(entry.ckpt.vocab, headlines[0])
        live = (lesson_plots.word_sensitivity_figure(tokens, curves, selected=model, colors=colors) if curves else
                plots.message_figure(tr("lesson.no_recurrent")))
    stored = {}
    for n in recurrent:
        lessons, note = _lessons_for(reg.get(n))
        notes.append(note)
        if lessons is not None and lessons.memory:
            stored[n] = lessons.memory
    if stored:
        testset = lesson_plots.memory_curves_figure(stored, colors)
        some = next(iter(stored.values()))
        at = [d for d in (10, 20) if d < len(some["distance"])]
        rows = [f"| {tr('card.col_model')} | " + " | ".join(tr("lesson.words_back", n=d) for d in at) + " |",
                "|---|" + "---:|" * len(at)]
        for n, mem in stored.items():
            rows.append(f"| {n} | " + " | ".join(f"{mem['median'][d]:.3g}" for d in at) + " |")
        summary = (tr("lesson.memory_summary", n=some["headlines"], min_words=some["min_words"],
                      eligible=f"{some['eligible_headlines']:,}") + "\n\n" + "\n".join(rows))
    else:
        testset = plots.message_figure(tr("lesson.no_memory", command=REBUILD))
        summary = ""
    md = "\n\n".join(p for p in [summary, _notes(notes)] if p)
    return live, testset, md


def batching_view(reg, names: tuple[str, ...]):
    """(figure, Markdown table) of the stored batching measurements of `names` (the packing pair)."""
    stored, notes = {}, []
    for n in names:
        if n not in reg.entries:
            continue
        lessons, note = _lessons_for(reg.get(n))
        notes.append(note)
        if lessons is not None:
            stored[n] = lessons.batching
    if not stored:
        msg = tr("lesson.no_batching", command=REBUILD)
        return plots.message_figure(msg), _notes(notes) or msg
    fig = lesson_plots.batching_figure(stored, BATCHING_MODES)
    # one row per mode, one column per model: narrow enough for a phone
    lines = [f"| {tr('lesson.batching_col')} | " + " | ".join(stored) + " |", "|---|" + "---:|" * len(stored)]
    for m in BATCHING_MODES:
        cells = [f"{b[m]:.4f}" + ("" if m == "one_by_one" else f" ({tr('lesson.changed_n', n=b['changed'][m])})")
                 for b in stored.values()]
        lines.append(f"| {tr('lesson.mode_' + m)} | " + " | ".join(cells) + " |")
    n_rows = next(iter(stored.values())).get("n")
    intro = tr("lesson.batching_intro", n=f"{n_rows:,}")
    return fig, "\n\n".join([intro, "\n".join(lines), _notes(notes)])
