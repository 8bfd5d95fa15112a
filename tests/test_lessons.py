"""The lesson measurements: memory (exact Jacobian norms), word order, batching, lessons.json and the views."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from helpers import TINY_LABELS, TINY_TEXTS, tiny_model, tiny_vocab, write_tiny_checkpoints, shown
from rnn_demo import lessons as L
from rnn_demo.batching import EncodedDataset
from rnn_demo.checkpoint import WEIGHTS_FILE, load_checkpoint, save_checkpoint
from rnn_demo.models import ClassifierConfig, TextClassifier, preset_config

RECURRENT = ("lesson-rnn", "lesson-lstm", "lesson-lstm-packed", "gru", "bilstm", "bilstm-2layer")
IDS = [5, 9, 2, 14, 7, 3, 11, 6, 8, 4, 12]


def brute_force(model: TextClassifier, ids: list[int]) -> dict[str, np.ndarray]:
    """The same quantity from torch.autograd.functional.jacobian of the final state, direction by direction."""
    hidden = model.config.hidden_size
    emb = model.embedding(torch.tensor([ids])).detach()  # (1, T, E)

    def final(x):
        states = model.run_layers(x, torch.tensor([len(ids)]))
        out = states[0, -1, :hidden]
        if model.config.bidirectional:
            out = torch.cat([out, states[0, 0, hidden:]])
        return out

    jac = torch.autograd.functional.jacobian(final, emb)  # (D*H, 1, T, E)
    norms = {"forward": jac[:hidden].pow(2).sum(dim=(0, 1, 3)).sqrt().numpy()}
    if model.config.bidirectional:
        norms["backward"] = jac[hidden:].pow(2).sum(dim=(0, 1, 3)).sqrt().numpy()
    return norms


@pytest.mark.parametrize("preset", RECURRENT)
def test_memory_equals_brute_force_jacobian(preset):
    vocab = tiny_vocab()
    model = tiny_model(preset, vocab, seed=3)
    ids = [i % len(vocab) for i in IDS]
    got = L.final_state_sensitivity(model, ids)
    want = brute_force(model, ids)
    assert set(got) == set(want)
    for key in want:
        assert got[key].shape == (len(ids),)
        np.testing.assert_allclose(got[key], want[key], atol=1e-5, rtol=0)
    # the backward reader's final state is at word 0: the first word matters to it directly
    if "backward" in got:
        assert got["backward"][0] > 0


@pytest.mark.parametrize("budget", [1, 50, 10**9])
def test_memory_in_chunks_equals_one_pass(monkeypatch, budget):
    """The copies go through in chunks to bound memory; any chunk size gives the same exact values."""
    vocab = tiny_vocab()
    model = tiny_model("bilstm", vocab, seed=5)
    ids = [i % len(vocab) for i in IDS]
    want = brute_force(model, ids)
    monkeypatch.setattr(L, "SENSITIVITY_ELEMENTS", budget)  # 1: one unit per pass; 10**9: all at once
    got = L.final_state_sensitivity(model, ids)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], atol=1e-5, rtol=0)


def test_memory_matches_finite_differences():
    """Central differences in float64 on a tiny LSTM: perturb each coordinate of each word's embedding."""
    torch.manual_seed(0)
    model = TextClassifier(ClassifierConfig(vocab_size=20, embed_dim=3, hidden_size=4, cell="lstm",
                                            pooling="last")).double().eval()
    ids = [3, 7, 1, 12, 5]
    got = L.final_state_sensitivity(model, ids)["forward"]
    emb = model.embedding(torch.tensor([ids])).detach()
    eps = 1e-6
    fd = np.zeros(len(ids))
    with torch.no_grad():
        for t in range(len(ids)):
            total = 0.0
            for e in range(emb.size(-1)):
                plus, minus = emb.clone(), emb.clone()
                plus[0, t, e] += eps
                minus[0, t, e] -= eps
                h_plus = model.run_layers(plus, torch.tensor([len(ids)]))[0, -1]
                h_minus = model.run_layers(minus, torch.tensor([len(ids)]))[0, -1]
                total += float(((h_plus - h_minus) / (2 * eps)).pow(2).sum())
            fd[t] = total ** 0.5
    np.testing.assert_allclose(got, fd, rtol=1e-5, atol=1e-8)


def test_memory_refuses_the_bag():
    model = TextClassifier(preset_config("bag-of-embeddings", 20))
    with pytest.raises(ValueError, match="no hidden state"):
        L.final_state_sensitivity(model, [1, 2, 3])


def test_reverse_and_shuffle_keep_words_and_pads():
    tokens = torch.tensor([[5, 6, 7, 0, 0], [1, 2, 3, 4, 9]])
    lengths = torch.tensor([3, 5])
    rev = L.reverse_rows(tokens, lengths)
    assert rev.tolist() == [[7, 6, 5, 0, 0], [9, 4, 3, 2, 1]]
    assert torch.equal(L.reverse_rows(rev, lengths), tokens)
    shuf = L.shuffle_rows(tokens, lengths, seed=1)
    for row, length in zip(range(2), lengths.tolist()):
        assert sorted(shuf[row, :length].tolist()) == sorted(tokens[row, :length].tolist())
        assert shuf[row, length:].tolist() == tokens[row, length:].tolist()
    assert torch.equal(shuf, L.shuffle_rows(tokens, lengths, seed=1))  # seeded
    assert L.shuffle_words(["a", "b", "c", "d", "e", "f"], 0) != L.shuffle_words(["a", "b", "c", "d", "e", "f"], 1)


def _encoded(vocab):
    texts = TINY_TEXTS * 4
    return EncodedDataset(vocab, texts, TINY_LABELS * 4, 50)


def test_bag_is_blind_to_order_and_equals_embedding_mean():
    vocab = tiny_vocab()
    torch.manual_seed(0)
    bag = TextClassifier(preset_config("bag-of-embeddings", len(vocab), embed_dim=8, hidden_size=8)).eval()
    data = _encoded(vocab)
    result = L.measure_word_order(bag, data)
    assert result["changed_by_reverse"] == 0.0 and result["changed_by_shuffle"] == 0.0
    assert result["accuracy"] == result["reversed_accuracy"] == result["shuffled_accuracy"]
    # the bag's forward is the classic EmbeddingBag(mean) -> linear
    ref = torch.nn.EmbeddingBag(len(vocab), 8, mode="mean")
    ref.weight.data.copy_(bag.embedding.weight.data)
    with torch.no_grad():
        offsets = torch.cat([torch.zeros(1, dtype=torch.long), data.lengths.cumsum(0)[:-1]])
        flat = torch.cat([data.tokens[i, :n] for i, n in enumerate(data.lengths.tolist())])
        want = bag.fc(ref(flat, offsets))
        got = bag(data.tokens, data.lengths)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


def test_recurrent_word_order_and_batching_measured_correctly():
    vocab = tiny_vocab()
    model = tiny_model("gru", vocab, seed=1)
    data = _encoded(vocab)
    wo = L.measure_word_order(model, data)
    with torch.no_grad():
        rev_preds = torch.stack([model(L.reverse_rows(data.tokens[i:i + 1], data.lengths[i:i + 1])[:, :n],
                                       data.lengths[i:i + 1]).argmax(-1)[0]
                                 for i, n in enumerate(data.lengths.tolist())])
    assert wo["reversed_accuracy"] == pytest.approx(float((rev_preds == data.labels).float().mean()), abs=1e-6)
    batching = L.measure_batching(model, data)
    assert set(L.BATCHING_MODES) <= set(batching)
    # a length-aware model answers the same however it is batched
    assert batching["changed"] == {m: 0 for m in L.BATCHING_MODES[1:]}


def test_unpacked_model_changes_with_batching():
    """The lesson's unpacked LSTM reads the pads: some answers depend on the batch (here forced by a big bias)."""
    vocab = tiny_vocab()
    model = tiny_model("lesson-lstm", vocab, seed=2)
    with torch.no_grad():  # make the pad embedding push hard, so reading pads visibly moves the state
        model.embedding.weight[0] = 3.0
    data = _encoded(vocab)
    batching = L.measure_batching(model, data)
    assert sum(batching["changed"].values()) > 0
    assert batching["changed"]["sorted_64"] >= 0


def _tiny_checkpoint_and_csv(tmp_path, preset="lesson-lstm-packed"):
    vocab = tiny_vocab()
    model = tiny_model(preset, vocab, seed=0)
    folder = save_checkpoint(tmp_path / preset, model, vocab, preset, {"settings": {"max_len": 50}})
    data = tmp_path / "test.csv"
    with open(data, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
        # long rows (>= 30 words) so the memory curve has headlines to measure
        for text, label in zip(TINY_TEXTS * 2, TINY_LABELS * 2):
            writer.writerow([label + 1, text, " ".join(TINY_TEXTS)])
    return folder, data


def test_cli_json_has_the_issue_keys_and_writes_lessons_json(tmp_path, capsys):
    folder, data = _tiny_checkpoint_and_csv(tmp_path, "bilstm")
    assert L.main(["--checkpoint", str(folder), "--data", str(data), "--json", "--memory-headlines", "5"]) == 0
    out = json.loads(capsys.readouterr().out)  # exactly one JSON object
    assert set(L.WORD_ORDER_KEYS) <= set(out["word_order"])
    assert set(L.BATCHING_MODES) | {"changed"} <= set(out["batching"])
    mem = out["memory"]
    assert mem["distance"][0] == 0 and mem["median"][0] == pytest.approx(1.0)
    assert len(mem["backward"]) == len(mem["distance"]) == L.MEMORY_DISTANCES and mem["headlines"] == 5
    loaded = L.load_lessons(folder)
    assert loaded.current and loaded.data == out


def test_lessons_json_stale_and_tampered(tmp_path):
    folder, data = _tiny_checkpoint_and_csv(tmp_path)
    ckpt = load_checkpoint(folder)
    L.save_lessons(L.measure_all(ckpt, data, memory_limit=3), folder)
    path = folder / L.LESSONS_FILE
    good = path.read_text(encoding="utf-8")
    assert L.load_lessons(folder).current

    weights = folder / WEIGHTS_FILE  # new weights -> the stored file is stale, and says how to rebuild
    original = weights.read_bytes()
    model = tiny_model("lesson-lstm-packed", tiny_vocab(), seed=9)
    save_checkpoint(folder, model, tiny_vocab(), "lesson-lstm-packed", {"settings": {"max_len": 50}})
    stale = L.load_lessons(folder)
    assert not stale.current and stale.data["weights_sha256"] != L.file_sha256(folder / WEIGHTS_FILE)
    weights.write_bytes(original)

    def damaged(text: str, match: str) -> None:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(L.LessonsError, match=match) as info:
            L.load_lessons(folder)
        assert str(path) in str(info.value)

    damaged(good[: len(good) // 2], "not valid JSON")
    damaged("[]", "JSON object")
    obj = json.loads(good)
    damaged(json.dumps({**obj, "format": "other/9"}), "format")
    damaged(json.dumps({**obj, "word_order": {**obj["word_order"], "shuffled_accuracy": 1.7}}),
            "word_order.shuffled_accuracy")
    damaged(json.dumps({**obj, "batching": {k: v for k, v in obj["batching"].items() if k != "random_16"}}),
            "batching.random_16")
    damaged(json.dumps({**obj, "memory": {**obj["memory"], "median": obj["memory"]["median"][:-1]}}), "memory")
    damaged(json.dumps({**obj, "memory": {**obj["memory"], "median": ["x"] * len(obj["memory"]["median"])}}),
            "memory.median")
    (folder / L.LESSONS_FILE).unlink()
    assert L.load_lessons(folder) is None


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    from page.registry import Registry

    root = write_tiny_checkpoints(tmp_path_factory.mktemp("ckpts"),
                                  presets=("lesson-lstm", "lesson-lstm-packed", "gru", "bilstm", "bag-of-embeddings"))
    return Registry(root)


def test_bag_is_first_class_in_the_views(registry):
    from page import card, views
    from page import lesson_views as lv

    headline = "striker scores twice in the cup final"
    bag = views.analyze(registry, headline, "bag-of-embeddings")
    assert bag["memory"] is None and bag["trajectory"] is None
    assert bag["word_order"]["reversed"]["words"] == headline.split()[::-1]
    # the bag's answer is identical for every order
    assert bag["word_order"]["shuffled"]["probabilities"] == pytest.approx(bag["probabilities"], abs=1e-5)
    lstm = views.analyze(registry, headline, "bilstm")
    assert len(lstm["memory"]) == len(lstm["tokens"]) and all(v > 0 for v in lstm["memory"])
    assert sorted(lstm["word_order"]["shuffled"]["words"]) == sorted(lstm["tokens"])
    # views that have no meaning for the bag say why, in a figure, instead of failing
    page = views.analyze_page(registry, headline, "bag-of-embeddings")
    assert page.payload["paths"] == [] and page.payload["cells"] is None and page.payload["directions"] == 0
    assert "no hidden state" in page.payload["strings"]["no_trajectory"]
    assert "no recurrent cell" in page.payload["strings"]["no_cells"]
    card, _, _ = card.model_card(registry, "bag-of-embeddings")
    assert "mean of the word embeddings" in card
    _, _, _, compare_notes = views.compare_view(registry, headline)
    assert "bag-of-embeddings has no hidden state" in shown(compare_notes)
    live, testset, md = lv.memory_view(registry, headline, "bag-of-embeddings")
    names = [t["name"] for t in live.to_dict()["data"]]
    assert "bag-of-embeddings" not in names and "bilstm (backward reader)" in names
    assert "no memory to measure" in md


def test_views_read_lessons_json_and_report_damage(registry):
    from page import lesson_views as lv
    from page.registry import Registry

    fig, md = lv.word_order_view(registry, "striker scores twice in the cup final", seed=4)
    assert "(seed 4)" in md and "No test-set measurements" in md
    bars = fig.to_dict()["data"]
    assert [b["name"] for b in bars] == ["as written", "reversed", "shuffled"]
    assert "(changed)" not in bars[2]["text"][registry.names.index("bag-of-embeddings")]

    entry = registry.get("lesson-lstm-packed")
    path = entry.ckpt.path / L.LESSONS_FILE
    rows = EncodedDataset(entry.ckpt.vocab, TINY_TEXTS, TINY_LABELS, 50)
    result = {"format": L.LESSONS_FORMAT, "checkpoint": entry.name,
              "weights_sha256": L.file_sha256(entry.ckpt.path / WEIGHTS_FILE),
              "word_order": L.measure_word_order(entry.ckpt.model, rows), "memory": None,
              "batching": L.measure_batching(entry.ckpt.model, rows)}
    L.save_lessons(result, entry.ckpt.path)
    # lessons.json is read once, when the registry loads the model
    _, md = lv.batching_view(registry)
    assert "No test-set measurements" in md and f"{result['batching']['one_by_one']:.4f}" not in md
    _, md = lv.batching_view(Registry(registry.root))
    assert f"| one by one | {result['batching']['one_by_one']:.4f} |" in md
    path.write_text("{broken", encoding="utf-8")
    damaged = Registry(registry.root)  # a damaged file leaves that model out, named with the problem
    assert "lesson-lstm-packed" not in damaged.names
    assert any("not valid JSON" in p and "lessons.json" in p for p in damaged.problems)
    path.unlink()


SHIPPED = L.discover_checkpoints(L.Path(__file__).resolve().parents[1] / "checkpoints")


@pytest.mark.skipif(not SHIPPED, reason="no shipped checkpoints")
@pytest.mark.parametrize("folder", SHIPPED, ids=[f.name for f in SHIPPED])
def test_shipped_lessons_json_is_current_and_consistent(folder):
    """The page's numbers: every shipped checkpoint has a lessons.json measured on its current weights."""
    lessons = L.load_lessons(folder)
    assert lessons is not None, f"{folder}: no lessons.json; run python -m rnn_demo.lessons --all"
    assert lessons.current, f"{folder}: lessons.json was measured on older weights; run python -m rnn_demo.lessons --all"
    ckpt_cfg = json.loads((folder / "config.json").read_text())["model"]
    assert (lessons.memory is None) == (ckpt_cfg["cell"] == "bag")
    if ckpt_cfg["pooling"] != "last_padded":  # a length-aware model answers the same in every batching
        assert set(lessons.batching["changed"].values()) == {0}


def test_packing_example_changes_the_shipped_unpacked_answer():
    from page.lesson_views import MAX_PADS
    from rnn_demo import states as st
    from rnn_demo.catalog import PACKING_EXAMPLE

    folder = next((f for f in SHIPPED if f.name == "lesson-lstm"), None)
    if folder is None:
        pytest.skip("lesson-lstm is not shipped")
    ckpt = load_checkpoint(folder)
    _, ids, _ = st.encode_one(ckpt.vocab, PACKING_EXAMPLE)
    probs, _ = st.padding_drift(ckpt.model, ids, MAX_PADS)
    answers = probs.argmax(-1)
    assert (answers != answers[0]).any(), "the packing tab's default headline should show the answer changing"


# ---- the lesson tabs open on something that shows their point

SHIPPED_NAMES = {f.name for f in SHIPPED}


@pytest.fixture(scope="module")
def shipped():
    from page.registry import Registry
    from rnn_demo.catalog import MODELS

    if set(MODELS) - SHIPPED_NAMES:
        pytest.skip("every shipped checkpoint is needed")
    return Registry(L.Path(__file__).resolve().parents[1] / "checkpoints")


def test_word_order_opens_on_a_headline_whose_answer_flips(shipped):
    """The word-order tab reads the page's headline box, which opens on the first example."""
    from page import lesson_views as lv
    from rnn_demo.catalog import EXAMPLES

    fig, md = lv.word_order_view(shipped, EXAMPLES[0], seed=0)
    assert "changes for" in md and "no model changes" not in md
    assert any("(changed)" in text for trace in fig.data for text in trace.text)


def test_examples_are_not_test_set_rows():
    from rnn_demo.catalog import EXAMPLES, PACKING_EXAMPLE
    from rnn_demo.tokenizer import basic_english

    test_csv = L.Path(__file__).resolve().parents[2] / "shared" / "data" / "ag_news" / "test.csv"
    if not test_csv.is_file():
        pytest.skip(f"{test_csv} is not present")
    from rnn_demo.data import read_dataset

    rows = {" ".join(basic_english(t)) for t in read_dataset(test_csv).texts}
    for example in (*EXAMPLES, PACKING_EXAMPLE):
        key = " ".join(basic_english(example))
        assert not any(key in row for row in rows), example


def test_packing_table_shows_the_answer_without_pads_and_at_k(shipped):
    """At the tab's default k both rows used to show the same class; the unpacked model's original
    answer was only in a sentence. Each row now gives the answer at k = 0 and at k."""
    from page import lesson_views as lv
    from page.i18n import class_label
    from rnn_demo.catalog import PACKING_EXAMPLE, PACKING_PAIR

    _, md = lv.packing_view(shipped, PACKING_EXAMPLE, 10)
    rows = [line for line in md.splitlines() if line.startswith(f"| {PACKING_PAIR[0]} |")]
    assert len(rows) == 1
    header = next(line for line in md.splitlines() if "k = 0" in line and line.startswith("|"))
    assert "k = 10" in header
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    at_zero, at_k = cells[1], cells[2]
    classes = [class_label(c) for c in shipped.class_names]
    first = lambda cell: next(c for c in classes if cell.startswith(c) or cell.startswith(f"**{c}"))  # noqa: E731
    assert first(at_zero) != first(at_k)  # the flip is in the table
