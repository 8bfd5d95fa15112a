"""The model card: what a model is, how it was trained and how it scores, from its checkpoint's files.

Texts come from the translation files through `i18n.tr`, so the same function serves every
language (the caller sets the current one, see `i18n.language`).
"""
from __future__ import annotations

import html

import numpy as np

from rnn_demo.catalog import TEST_DATA

from . import figures
from .i18n import class_label, tr
from .registry import shown_path

POOLING_KEYS = {"mean": "card.pool_mean", "last": "card.pool_last", "last_padded": "card.pool_last_padded"}
EVALUATE = "python -m rnn_demo.evaluate --checkpoint {path} --data " + TEST_DATA + " --save"


def _cell(value) -> str:
    """A table cell: escaped, and no '|' that would split the Markdown row."""
    return html.escape(str(value)).replace("|", "\\|")


def _setting_name(key: str) -> str:
    """A training setting in the page's language, with the name the training command uses:
    "batch size (headlines per step) (`batch_size`)"; a setting without a translation keeps its name."""
    try:
        name = tr(f"card.setting_{key}")
    except KeyError:
        return f"`{_cell(key)}`"
    return f"{_cell(name)} (`{_cell(key)}`)"


def describe(entry) -> str:
    """Plain-words description of a model (model.NAME in the translation files), else its own line."""
    key = f"model.{entry.name}"
    try:
        return tr(key)
    except KeyError:
        return entry.ckpt.description


def size_line(entry) -> str:
    """'1,234 parameters, LSTM, bidirectional, 1 layer(s)' in the current language."""
    cfg = entry.ckpt.config
    kind = (tr("card.kind_recurrent", cell=cfg.cell.upper(), bi=tr("card.bidirectional") if cfg.bidirectional else "",
               layers=cfg.num_layers) if cfg.is_recurrent else tr("card.no_recurrence"))
    return tr("card.size", params=f"{entry.ckpt.model.num_parameters():,}", kind=kind)


def architecture(cfg) -> str:
    if not cfg.is_recurrent:  # the bag of embeddings
        return tr("card.arch_bag", vocab=f"{cfg.vocab_size:,}", dim=cfg.embed_dim, state=cfg.state_size,
                  classes=cfg.num_classes)
    return tr("card.arch_rnn", vocab=f"{cfg.vocab_size:,}", dim=cfg.embed_dim, layers=cfg.num_layers,
              bi=tr("card.arch_bi") if cfg.bidirectional else "", cell=cfg.cell.upper(), units=cfg.hidden_size,
              per=tr("card.arch_per_direction") if cfg.bidirectional else "",
              pooling=tr(POOLING_KEYS[cfg.pooling]), state=cfg.state_size, classes=cfg.num_classes)


def model_card(reg, model: str):
    """(Markdown, confusion-matrix figure, training-curves figure) from the checkpoint's files.

    Every setting is a row of a two-column table with headers (setting | value), never `k=v` lists.
    """
    entry = reg.get(model)
    ckpt, cfg = entry.ckpt, entry.ckpt.config
    m, test = ckpt.metrics, ckpt.test_metrics
    rows = [(tr("card.architecture"), architecture(cfg)),
            (tr("card.parameters"), f"{ckpt.model.num_parameters():,}"),
            (tr("card.dropout"), cfg.dropout)]
    data = m.get("data", {})
    if data:
        rows.append((tr("card.training_data"),
                     tr("card.data_rows", path=data.get("path", "?"), train=f"{data['train_rows']:,}",
                        val=f"{data.get('val_rows', 0):,}") if isinstance(data.get("train_rows"), int) else data))
    epochs = m.get("epochs", [])
    if epochs:
        best = m.get("best_val_accuracy", epochs[-1].get("val_accuracy", float("nan")))
        # how many epochs ran, and which one's weights were kept (the curve marks the same epoch)
        value = (tr("card.epochs_kept", n=len(epochs), best=m["best_epoch"], acc=f"{best:.3f}")
                 if isinstance(m.get("best_epoch"), int) else tr("card.epochs_value", n=len(epochs), acc=f"{best:.3f}"))
        rows.append((tr("card.epochs"), value))
    table = [f"| {tr('card.setting')} | {tr('card.value')} |", "|---|---|"]
    table += [f"| {_cell(k)} | {_cell(v)} |" for k, v in rows]
    lines = [f"### {_cell(ckpt.name)}", _cell(describe(entry)), "", *table]
    settings = m.get("settings", {})
    if settings:
        lines += ["", f"**{tr('card.training_settings')}**", "",
                  f"| {tr('card.setting')} | {tr('card.value')} |", "|---|---|"]
        lines += [f"| {_setting_name(k)} | {_cell(v)} |" for k, v in settings.items()]
    if test:
        lines += ["", tr("card.test_accuracy", acc=f"{test['accuracy']:.3f}", n=f"{test.get('n', 0):,}"), "",
                  tr("card.per_class"), "|---|---:|---:|---:|---:|"]
        for c, s in test.get("per_class", {}).items():
            lines.append(f"| {_cell(class_label(c))} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | "
                         f"{s.get('support', '')} |")
        confusion = figures.confusion_figure(np.asarray(test["confusion"]), ckpt.class_names)
    else:
        lines += ["", tr("card.no_test", command=EVALUATE.format(path=shown_path(ckpt.path)))]
        confusion = figures.message_figure(tr("plot.no_test_metrics"))
    proj = entry.projection.meta if entry.projection is not None else {}
    if entry.projection is None:
        lines += ["", tr("note.no_trajectory", model=ckpt.name)]
    elif entry.projection_note:
        lines += ["", tr("card.projection_note", note=_cell(entry.projection_note))]
    elif proj.get("reference"):
        ref = proj["reference"]
        lines += ["", tr("card.projection", rows=f"{ref['rows']:,}", per_class=ref["per_class"], seed=ref["seed"],
                         file=_cell(ref["file"]))]
    curves = (figures.training_curves_figure(epochs, best_epoch=m.get("best_epoch")) if epochs
              else figures.message_figure(tr("plot.no_history")))
    return "\n".join(lines), confusion, curves
