"""The lesson's views as pure functions: registry + typed text -> figures and Markdown.

Why packing matters, does word order matter, how far back it remembers, and the test-set
batching measurements. Live numbers (the typed headline) are computed from the PyTorch models;
test-set numbers come from each model's lessons.json, read once into its registry entry (written
by `python -m rnn_demo.lessons`). A missing or stale lessons.json is said on the page, never fatal.
"""
from __future__ import annotations

import html

import numpy as np
import torch

from rnn_demo import states
from rnn_demo.catalog import PACKING_PAIR, TEST_DATA, lesson_order
from rnn_demo.lessons import BATCHING_MODES, final_state_sensitivity, shuffle_words
from rnn_demo.tokenizer import UNK_ID

from . import figures, lesson_figures
from .i18n import class_label, tr
from .inputs import input_problem, problem_label, problem_note, split_headlines
from .registry import shown_path

REBUILD = "python -m rnn_demo.lessons --all --data " + TEST_DATA
MAX_PADS = 40  # "why packing matters": k = 0 .. MAX_PADS pads


def _lessons_for(entry) -> tuple[object | None, str]:
    """(Lessons or None, note for the page): a missing or stale lessons.json is explained, not raised.

    A stale one (measured on other weights: another model's file, or older weights) is not shown at
    all, only named: its numbers describe some other model."""
    if entry.lessons is None:
        return None, tr("lesson.missing", model=entry.name, command=REBUILD)
    if not entry.lessons.current:
        return None, tr("lesson.stale", model=entry.name, file=shown_path(entry.lessons.path), command=REBUILD)
    return entry.lessons, ""


def _notes(notes: list[str]) -> str:
    return "\n".join(f"- _{html.escape(n)}_" for n in dict.fromkeys(n for n in notes if n))


def _refusal(entry, headline: str) -> tuple[object, str] | None:
    """(message figure, note) when the input rule gives `headline` no answer (page.inputs.input_problem)."""
    problem = input_problem(headline, entry.ckpt.vocab)
    if problem is None:
        return None
    figure = figures.message_figure(tr("note.no_answer_figure", index=1, reason=problem_label(problem)))
    return figure, problem_note(problem, 0, entry.name)


@torch.inference_mode()
def _probs_for_ids(model, ids: list[int]) -> np.ndarray:
    """(C,) class probabilities for one headline given as token ids (no padding involved)."""
    logits = model(torch.tensor([ids], dtype=torch.long), torch.tensor([len(ids)], dtype=torch.long))
    return torch.softmax(logits, dim=-1)[0].numpy()


def headline_variants(vocab, headline: str, seed: int) -> dict[str, list[str]]:
    """The headline's words as written, reversed and shuffled (seeded), as the tokenizer splits them."""
    words, _, _ = states.encode_one(vocab, headline)
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
    headlines, _ = split_headlines(text)
    if not headlines:
        msg = tr("lesson.order_empty")
        return figures.message_figure(msg), msg
    first = next(iter(reg.entries.values()))
    table, notes = word_order_testset_table(reg)
    refused = _refusal(first, headlines[0])
    if refused is not None:  # no answers to compare; the test-set table still teaches
        return refused[0], "\n\n".join([f"- _{html.escape(refused[1])}_", tr("lesson.testset"), table, _notes(notes)])
    variants = headline_variants(first.ckpt.vocab, headlines[0], seed)
    names = lesson_order(reg.names)
    probs = np.stack([word_order_probabilities(reg.get(n), variants) for n in names])  # (M, 3, C)
    fig = lesson_figures.word_order_figure(names, probs, reg.class_names)
    label = {k: tr("lesson." + k.replace(" ", "_")) for k in variants}
    words = "\n".join(f"- **{label[k]}** ({tr('lesson.seed', seed=seed)}): {html.escape(' '.join(v))}"
                      if k == "shuffled" else f"- **{label[k]}**: {html.escape(' '.join(v))}" for k, v in variants.items())
    changed = [n for n, p in zip(names, probs) if len({int(np.argmax(r)) for r in p}) > 1]
    verdict = tr("lesson.order_changed", models=", ".join(changed)) if changed else tr("lesson.order_same")
    md = "\n\n".join([words, verdict, tr("lesson.testset"), table, _notes(notes)])
    return fig, md


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
    headlines, _ = split_headlines(text)
    recurrent = [n for n in lesson_order(reg.names) if reg.get(n).ckpt.config.is_recurrent]
    styles = {n: i for i, n in enumerate(recurrent)}  # a model looks the same in both charts
    notes = []
    entry = reg.get(model)
    if not entry.ckpt.config.is_recurrent:
        notes.append(tr("lesson.no_state", model=model))
    refused = _refusal(entry, headlines[0]) if headlines else None
    if not headlines:
        live = figures.message_figure(tr("lesson.memory_empty"))
    elif refused is not None:
        live = refused[0]
        notes.insert(0, refused[1])
    else:
        curves = {}
        for n in recurrent:
            e = reg.get(n)
            _, ids, _ = states.encode_one(e.ckpt.vocab, headlines[0])
            curves[n] = memory_values(e, ids)
        tokens, _, _ = states.encode_one(entry.ckpt.vocab, headlines[0])
        live = (lesson_figures.word_sensitivity_figure(tokens, curves, selected=model, styles=styles) if curves else
                figures.message_figure(tr("lesson.no_recurrent")))
    stored = {}
    for n in recurrent:
        lessons, note = _lessons_for(reg.get(n))
        notes.append(note)
        if lessons is not None and lessons.memory:
            stored[n] = lessons.memory
    if stored:
        testset = lesson_figures.memory_curves_figure(stored, styles)
        some = next(iter(stored.values()))
        at = [d for d in (10, 20) if d < len(some["distance"])]
        rows = [f"| {tr('card.col_model')} | " + " | ".join(tr("lesson.words_back", n=d) for d in at) + " |",
                "|---|" + "---:|" * len(at)]
        for n, mem in stored.items():
            rows.append(f"| {n} | " + " | ".join(f"{mem['median'][d]:.3g}" for d in at) + " |")
        summary = (tr("lesson.memory_summary", n=some["headlines"], min_words=some["min_words"],
                      eligible=f"{some['eligible_headlines']:,}") + "\n\n" + "\n".join(rows))
    else:
        testset = figures.message_figure(tr("lesson.no_memory", command=REBUILD))
        summary = ""
    md = "\n\n".join(p for p in [summary, _notes(notes)] if p)
    return live, testset, md


def batching_view(reg, names: tuple[str, ...] = PACKING_PAIR):
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
        return figures.message_figure(msg), _notes(notes) or msg
    recurrent = [n for n in lesson_order(reg.names) if reg.get(n).ckpt.config.is_recurrent]
    fig = lesson_figures.batching_figure(stored, BATCHING_MODES, styles={n: i for i, n in enumerate(recurrent)})
    # one row per mode, one column per model: narrow enough for a phone
    lines = [f"| {tr('lesson.batching_col')} | " + " | ".join(stored) + " |", "|---|" + "---:|" * len(stored)]
    for m in BATCHING_MODES:
        cells = [f"{b[m]:.4f}" + ("" if m == "one_by_one" else f" ({tr('lesson.changed_n', n=b['changed'][m])})")
                 for b in stored.values()]
        lines.append(f"| {tr('lesson.mode_' + m)} | " + " | ".join(cells) + " |")
    n_rows = next(iter(stored.values())).get("n")
    intro = tr("lesson.batching_intro", n=f"{n_rows:,}")
    return fig, "\n\n".join([intro, "\n".join(lines), _notes(notes)])


def packing_view(reg, text: str, k: int, pair: tuple[str, str] = PACKING_PAIR, max_pads: int = MAX_PADS):
    """Padding drift of the lesson's unpacked LSTM vs the packed one, for the first headline."""
    missing = [n for n in pair if n not in reg.entries]
    if missing:
        msg = tr("lesson.packing_missing", names=", ".join(pair), missing=", ".join(missing))
        return figures.message_figure(msg), html.escape(msg)
    headlines, _ = split_headlines(text)
    if not headlines:
        msg = tr("lesson.packing_empty")
        return figures.message_figure(msg), msg
    headline = headlines[0]
    refused = _refusal(reg.get(pair[0]), headline)
    if refused is not None:
        return refused[0], f"- _{html.escape(refused[1])}_"
    k = int(max(0, min(max_pads, k)))
    classes = reg.class_names
    probs, drift = {}, {}
    for n in pair:
        entry = reg.get(n)
        _, ids, _ = states.encode_one(entry.ckpt.vocab, headline)
        p, feats = states.padding_drift(entry.ckpt.model, ids, max_pads)
        probs[n], drift[n] = p, np.linalg.norm(feats - feats[0], axis=1)  # (max_pads + 1,) L2 from k = 0
    target = int(np.argmax(probs[pair[1]][0]))
    fig = figures.drift_figure(list(range(max_pads + 1)), probs, drift, target, classes, selected_k=k)
    lines = [tr("lesson.packing_intro", k=k), "", tr("lesson.packing_header", k=k), "|---|---|---|---:|"]
    for n in pair:  # the answer without pads and with k of them, side by side: a flip shows in the table
        before, after = probs[n][0], probs[n][k]
        answer = lambda p: f"{class_label(classes[int(np.argmax(p))])} ({float(p.max()):.3f})"  # noqa: E731
        moved = int(np.argmax(after)) != int(np.argmax(before))
        lines.append(f"| {n} | {answer(before)} | {'**' + answer(after) + '**' if moved else answer(after)} | "
                     f"{drift[n][k]:.3f} |")
    changes = [k2 for k2 in range(max_pads + 1)
               if int(np.argmax(probs[pair[0]][k2])) != int(np.argmax(probs[pair[0]][0]))]
    verdict = (tr("lesson.packing_changes", model=pair[0], k=changes[0]) if changes else
               tr("lesson.packing_holds", model=pair[0], k=max_pads))
    lines += ["", verdict + " " + tr("lesson.packing_same", model=pair[1]), "", tr("lesson.packing_differ")]
    return fig, "\n".join(lines)
