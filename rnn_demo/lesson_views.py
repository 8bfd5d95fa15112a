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
from .checkpoint import WEIGHTS_FILE
from .lessons import (BATCHING_MODES, LESSONS_FILE, LessonsError, final_state_sensitivity, load_lessons,
                      shuffle_words)
from .tokenizer import UNK_ID

REBUILD = "python -m rnn_demo.lessons --all --data ../shared/data/ag_news/test.csv"

WORD_ORDER_HELP = """**Does word order matter?** Every model reads the headline as written, with its words reversed and
with its words shuffled. The bag of embeddings averages its word vectors, so its answer *cannot* change; a
recurrent network reads the words in order, so it may. The table below the chart shows how much this matters
over the whole test set: on topic classification, *which* words appear carries most of the signal, so only a
few per cent of the recurrent models' answers change. Order matters far more for tasks such as sentiment,
where a negation ("not good") flips the meaning."""

MEMORY_HELP = """**How far back does it remember?** For each word, how strongly the final hidden state would move if
that word's embedding changed: ‖∂h_T/∂x_t‖, the size of the gradient that flows back from the end to word t.
In a plain RNN it shrinks by a roughly constant factor per word (the *vanishing gradient*), so early words
of a long headline barely reach the end; the gates of an LSTM or GRU keep a path open and the curve falls
much more slowly. The y-axis is logarithmic: every grid step down is a factor of ten."""

BATCHING_HELP = """**The same test set, batched differently.** Below, each model reads all test headlines one at a time,
in batches sorted by length (little padding) and in random batches (a short headline waits behind many pads).
The packed model gets exactly the same answers every time. The lesson's unpacked LSTM reads the padding before
it answers, so some of its answers depend on which headlines it happened to share a batch with (counted in
brackets below). Its accuracy moves less than its answers do: some change for the better, some for the worse."""

NO_TRAJECTORY = ("{name} has no hidden state (it averages the word embeddings), so there is no trajectory "
                 "to draw.")
NO_CELLS = "{name} has no recurrent cell (it averages the word embeddings), so there are no states or gates to show."
NO_STATE = ("The bag of embeddings has no hidden state: it averages the word vectors, so every word reaches "
            "the answer with the same weight and there is no memory to measure.")


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
        return None, f"Test-set measurements unavailable for {entry.name}: {lessons}"
    if lessons is None:
        return None, f"No test-set measurements for {entry.name} yet: run `{REBUILD}`."
    if not lessons.current:
        return lessons, (f"The test-set measurements of {entry.name} were made on older weights; "
                         f"rebuild them with `{REBUILD}`.")
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
    lines = ["| model | test accuracy (%): as written / reversed / shuffled | answers changed (%): reversed / shuffled |",
             "|---|---|---|"]
    notes = []
    for name in reg.names:
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
        msg = "Type a headline to see whether its word order matters."
        return plots.message_figure(msg), msg
    first = next(iter(reg.entries.values()))
    variants = headline_variants(first.ckpt.vocab, headlines[0], seed)
    names = reg.names
    probs = np.stack([word_order_probabilities(reg.get(n), variants) for n in names])  # (M, 3, C)
    fig = lesson_plots.word_order_figure(names, probs, reg.class_names)
    table, notes = word_order_testset_table(reg)
    words = "\n".join(f"- **{k}** (seed {seed}): {html.escape(' '.join(v))}" if k == "shuffled" else
                      f"- **{k}**: {html.escape(' '.join(v))}" for k, v in variants.items())
    changed = [n for n, p in zip(names, probs) if len({int(np.argmax(r)) for r in p}) > 1]
    verdict = (f"On this headline the answer changes for: {', '.join(changed)}." if changed else
               "On this headline no model changes its answer; the probabilities may still move.")
    md = "\n\n".join([words, verdict, "**Over the full test set** (from each model's `lessons.json`):", table,
                      _notes(notes)])
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
    recurrent = [n for n in reg.names if reg.get(n).ckpt.config.is_recurrent]
    colors = {n: lesson_plots.model_color(i) for i, n in enumerate(recurrent)}  # same colour in both charts
    notes = []
    entry = reg.get(model)
    if not entry.ckpt.config.is_recurrent:
        notes.append(f"{model}: {NO_STATE} The chart shows the recurrent models.")
    if not headlines:
        live = plots.message_figure("Type a headline to see how far back each model remembers.")
    else:
        curves = {}
        for n in recurrent:
            e = reg.get(n)
            _, ids, _ = ins.encode_one(e.ckpt.vocab, headlines[0])
            curves[n] = memory_values(e, ids)
        tokens, _, _ = ins.encode_one(entry.ckpt.vocab, headlines[0])
        live = (lesson_plots.word_sensitivity_figure(tokens, curves, selected=model, colors=colors) if curves else
                plots.message_figure("No recurrent model is loaded."))
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
        rows = ["| model | " + " | ".join(f"{d} words back" for d in at) + " |", "|---|" + "---:|" * len(at)]
        for n, mem in stored.items():
            rows.append(f"| {n} | " + " | ".join(f"{mem['median'][d]:.3g}" for d in at) + " |")
        summary = (f"Test-set medians over {some['headlines']} headlines of at least {some['min_words']} words "
                   f"(a seeded sample of the {some['eligible_headlines']:,} such test headlines), relative to the "
                   "last word, forward reader:\n\n" + "\n".join(rows))
    else:
        testset = plots.message_figure(f"No stored memory measurements; run `{REBUILD}`.")
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
        msg = f"No stored batching measurements; run `{REBUILD}`."
        return plots.message_figure(msg), _notes(notes) or msg
    fig = lesson_plots.batching_figure(stored, BATCHING_MODES)
    # one row per mode, one column per model: narrow enough for a phone
    lines = ["| batching | " + " | ".join(stored) + " |", "|---|" + "---:|" * len(stored)]
    for m in BATCHING_MODES:
        cells = [f"{b[m]:.4f}" + ("" if m == "one_by_one" else f" ({b['changed'][m]} changed)") for b in stored.values()]
        lines.append(f"| {m.replace('_', ' ')} | " + " | ".join(cells) + " |")
    n_rows = next(iter(stored.values())).get("n")
    intro = (f"**Over the full test set** ({n_rows:,} headlines): accuracy when the headlines are read one by one, "
             "in batches of 64 sorted by length (little padding), and in random batches of 16, 64 and 256 (each "
             "padded to its longest headline); in brackets, how many answers differ from one by one.")
    return fig, "\n\n".join([intro, "\n".join(lines), _notes(notes)])
