"""What ships, in one table: the models in the lesson's order, the default model, the packing pair,
the example headlines and where the data lives.

The page (dropdown, Compare, the lesson views), the widget build and `bench/results_table.py` all
read it. Adding a model: a preset in `models.PRESETS`, a name in `MODELS`, its plain-words
description (`model.NAME`) in each file of page/locales, then train it into checkpoints/NAME.
"""
from __future__ import annotations

from typing import Sequence

# The lesson's order: the previous lesson's baseline, the lesson's three models, then stronger ones.
MODELS = ("bag-of-embeddings", "lesson-rnn", "lesson-lstm", "lesson-lstm-packed", "gru", "bilstm", "bilstm-2layer")
DEFAULT_MODEL = "lesson-lstm-packed"  # the page's and the widget's first model
# "Why packing matters": the lesson's LSTM that reads its final state after the pads, and the packed one.
PACKING_PAIR = ("lesson-lstm", "lesson-lstm-packed")

DATA_DIR = "../shared/data/ag_news"
TRAIN_DATA = f"{DATA_DIR}/train_hf.jsonl"
TEST_DATA = f"{DATA_DIR}/test.csv"

# Written for this project (not AG News rows): one or two per class, a few deliberately hard. The
# page opens on the first, and so does the word-order tab (it reads the same box): on this headline
# the shipped lesson-rnn and lesson-lstm change their answer when the words are reversed, and
# bilstm-2layer when they are shuffled (seed 0), so the tab shows its point at once.
EXAMPLES = (
    "Quantum startup raises 50 million dollars from investors",
    "Central bank raises interest rates as inflation climbs to a ten-year high",
    "Striker scores twice in stoppage time to keep title hopes alive",
    "Researchers unveil a chip that trains neural networks with a fraction of the power",
    "Peace talks resume in Geneva after weeks of border clashes",
    "Chipmaker shares tumble after weak quarterly forecast",
    "Space agency delays rocket launch after a sensor fault",
    "Olympic champion announces retirement at 31",
    "Floods force thousands to flee their homes in the north",
    "Apple and Microsoft report record profits",
)
MULTI_EXAMPLE = "\n".join(EXAMPLES[:4])
# "Why packing matters" opens on a headline (written for this project, not from any data set) on which
# the shipped lesson-lstm's answer visibly moves with padding: Sports with no pads, Business from one on.
PACKING_EXAMPLE = "Stadium deal lifts the builder's shares"


def lesson_order(names: Sequence[str]) -> list[str]:
    """Model names in the lesson's order; names not in `MODELS` follow, alphabetically."""
    return sorted(names, key=lambda n: (MODELS.index(n) if n in MODELS else len(MODELS), n))


def default_model(names: Sequence[str]) -> str:
    """`DEFAULT_MODEL` when it is among `names`, else the first of them in the lesson's order."""
    return DEFAULT_MODEL if DEFAULT_MODEL in names else lesson_order(names)[0]
