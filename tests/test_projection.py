"""rnn_demo.projection: the stored PCA, its CLI, determinism, staleness, and the shipped files."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers import ROOT, TINY_LABELS, TINY_TEXTS, write_tiny_checkpoints, write_tiny_data
from rnn_demo import projection as P
from rnn_demo.checkpoint import WEIGHTS_FILE, discover_checkpoints, load_checkpoint
from rnn_demo.fast_tokenizer import encode_batch


def test_fit_pca_finds_the_main_axis_with_fixed_signs():
    rng = np.random.default_rng(0)
    axis = np.array([3.0, -4.0, 0.0, 0.0]) / 5.0
    x = rng.normal(size=(500, 1)) * 10 * axis + rng.normal(size=(500, 4)) * 0.1 + 7.0
    mean, comp, ratio = P.fit_pca(x)
    assert np.allclose(mean, x.mean(0))
    assert comp.shape == (4, 3)
    assert abs(abs(comp[:, 0] @ axis) - 1) < 1e-3
    assert comp[np.abs(comp[:, 0]).argmax(), 0] > 0  # sign convention
    assert np.allclose(comp.T @ comp, np.eye(3), atol=1e-8)
    assert ratio[0] > 0.95 and ratio.sum() <= 1 + 1e-9
    _, comp_neg, _ = P.fit_pca(-x)  # same axes whatever the data's sign
    assert np.allclose(comp, comp_neg)


def test_fit_pca_pads_when_fewer_dims_than_components():
    mean, comp, ratio = P.fit_pca(np.random.default_rng(1).normal(size=(20, 2)))
    assert comp.shape == (2, 3) and np.all(comp[:, 2] == 0) and ratio[2] == 0


def test_reference_sample_is_balanced_sorted_and_seeded():
    labels = [i % 4 for i in range(4000)]
    rows = P.sample_reference(labels, 4, per_class=50, seed=0)
    assert len(rows) == 200 and np.all(np.diff(rows) > 0)
    assert np.bincount(np.asarray(labels)[rows]).tolist() == [50] * 4
    assert np.array_equal(rows, P.sample_reference(labels, 4, per_class=50, seed=0))
    assert not np.array_equal(rows, P.sample_reference(labels, 4, per_class=50, seed=1))
    small = P.sample_reference([0, 0, 1], 4, per_class=50)  # small classes: everything they have
    assert sorted(small.tolist()) == [0, 1, 2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = write_tiny_checkpoints(tmp_path_factory.mktemp("ckpts"), presets=("lesson-lstm-packed", "bilstm"))
    data = write_tiny_data(root / "tiny.jsonl")
    assert P.main(["--all", "--root", str(root), "--data", str(data)]) == 0
    return root, data


def test_cli_writes_projection_that_reproduces_the_model_states(built):
    root, _ = built
    for name in ("lesson-lstm-packed", "bilstm"):
        ckpt = load_checkpoint(root / name)
        proj = P.load_projection(root / name)
        assert proj is not None and proj.is_current(root / name)
        assert proj.num_directions == ckpt.config.num_directions
        assert proj.meta["reference"]["rows"] == len(proj.labels) == 24  # tiny data: 6 rows per class
        stored = (root / name / P.PROJECTION_META).read_text() + str((root / name / P.PROJECTION_WEIGHTS).read_bytes())
        assert not any(t in stored for t in TINY_TEXTS)  # no reference texts are shipped
        # the cloud is the projection of each reference headline's final state, recomputed here
        texts = TINY_TEXTS * 3
        rows = P.sample_reference(TINY_LABELS * 3, 4)
        tokens, lengths = encode_batch(ckpt.vocab, [texts[i] for i in rows], 200)
        with torch.no_grad():
            states, _ = ckpt.model.encode(tokens, lengths)
        hidden = ckpt.config.hidden_size
        for d in range(proj.num_directions):
            finals = np.stack([states[b, (lengths[b] - 1) if d == 0 else 0, d * hidden:(d + 1) * hidden].numpy()
                               for b in range(len(rows))])
            assert np.allclose(proj.project(d, finals), proj.clouds[d], atol=1e-4)


def test_cli_is_deterministic_and_detects_stale_weights(built, tmp_path):
    root, data = built
    folder = root / "bilstm"
    before = {f: (folder / f).read_bytes() for f in (P.PROJECTION_WEIGHTS, P.PROJECTION_META)}
    assert P.main(["--checkpoint", str(folder), "--data", str(data)]) == 0
    assert before == {f: (folder / f).read_bytes() for f in before}
    # retrained weights (same format) make the stored projection stale
    copy = tmp_path / "bilstm"
    copy.mkdir()
    for f in folder.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    weights = bytearray((copy / WEIGHTS_FILE).read_bytes())
    weights[-1] ^= 1
    (copy / WEIGHTS_FILE).write_bytes(bytes(weights))
    assert not P.load_projection(copy).is_current(copy)


def test_cli_reports_bad_inputs(tmp_path, capsys):
    assert P.main(["--all", "--root", str(tmp_path)]) == 2
    assert "no checkpoints" in capsys.readouterr().err
    root = write_tiny_checkpoints(tmp_path / "c", presets=("gru",))
    assert P.main(["--all", "--root", str(root), "--data", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_load_projection_is_none_without_files_and_names_a_damaged_file(tmp_path):
    # (a damaged projection used to be ignored or crash start-up; now it names the file)
    assert P.load_projection(tmp_path) is None
    (tmp_path / P.PROJECTION_META).write_text("{not json")
    (tmp_path / P.PROJECTION_WEIGHTS).write_bytes(b"garbage")
    with pytest.raises(P.ProjectionError, match=r"projection\.json: not valid JSON"):
        P.load_projection(tmp_path)


SHIPPED = [f for f in discover_checkpoints(ROOT / "checkpoints")  # recurrent ones: the bag has no state space
           if json.loads((f / "config.json").read_text())["model"]["cell"] != "bag"]


@pytest.mark.skipif(not SHIPPED, reason="no shipped checkpoints under checkpoints/")
@pytest.mark.parametrize("folder", SHIPPED, ids=[f.name for f in SHIPPED])
def test_shipped_checkpoints_carry_a_current_projection(folder):
    proj = P.load_projection(folder)
    assert proj is not None, f"run: python -m rnn_demo.projection --checkpoint {folder}"
    assert proj.is_current(folder), f"stale: run python -m rnn_demo.projection --checkpoint {folder}"
    assert len(proj.labels) == proj.meta["reference"]["rows"]
    assert all(c.shape == (len(proj.labels), 3) for c in proj.clouds)
