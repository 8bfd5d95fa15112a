"""The named API endpoints through gradio_client, against a live `python app.py` started here."""
from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client

from helpers import ROOT, AppServer
from rnn_demo.checkpoint import discover_checkpoints, load_checkpoint
from rnn_demo.predict import TorchPredictor

SHIPPED = discover_checkpoints(ROOT / "checkpoints")
pytestmark = pytest.mark.skipif(not SHIPPED, reason="no shipped checkpoints under checkpoints/")
HEADLINE = "Striker scores twice in stoppage time to keep title hopes alive"


@pytest.fixture(scope="module")
def client():
    server = AppServer()
    try:
        yield Client(server.url, verbose=False)
    finally:
        server.stop()


def test_only_the_named_endpoints_are_public(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/predict", "/analyze"}
    assert [p["parameter_name"] for p in endpoints["/predict"]["parameters"]] == ["text", "model"]


@pytest.mark.parametrize("folder", SHIPPED[:2] + SHIPPED[-1:], ids=lambda f: f.name)
def test_predict_returns_the_models_probabilities(client, folder):
    out = client.predict(HEADLINE, folder.name, api_name="/predict")
    expected = TorchPredictor(load_checkpoint(folder)).predict_proba([HEADLINE])[0]
    assert list(out) == ["World", "Sports", "Business", "Sci/Tech"]
    assert np.allclose(list(out.values()), expected, atol=1e-5)
    assert sum(out.values()) == pytest.approx(1.0, abs=1e-5)


def test_analyze_returns_tokens_prefixes_trajectory_and_importances(client):
    name = "bilstm" if any(f.name == "bilstm" for f in SHIPPED) else SHIPPED[0].name
    out = client.predict(HEADLINE, name, api_name="/analyze")
    ckpt = load_checkpoint(ROOT / "checkpoints" / name)
    assert out["model"] == name and out["tokens"] == ckpt.vocab.tokenize(HEADLINE)
    n = len(out["tokens"])
    assert len(out["per_token_probabilities"]) == n and len(out["importances"]) == n
    assert out["per_token_probabilities"][-1] == pytest.approx(out["probabilities"], abs=1e-5)
    directions = out["trajectory"]["directions"]
    assert len(directions) == ckpt.config.num_directions
    assert all(len(d["coords"]) == n and len(d["coords"][0]) == 3 for d in directions)
    assert out["trajectory"]["stored_projection"] is True
    assert out["predicted"] == max(out["probabilities"], key=out["probabilities"].get)


def test_bad_requests_get_clear_errors(client):
    with pytest.raises(Exception, match=r"unknown model 'no-such-model'; valid models: .*" + SHIPPED[0].name):
        client.predict(HEADLINE, "no-such-model", api_name="/predict")
    with pytest.raises(Exception, match="Please type a headline"):
        client.predict("   \n  ", SHIPPED[0].name, api_name="/analyze")
    out = client.predict("zzqxv blorfty wugwug", SHIPPED[0].name, api_name="/analyze")
    assert sum(out["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert any("None of the words" in n for n in out["notes"])
    out = client.predict("x" * 5000, SHIPPED[0].name, api_name="/analyze")
    assert any("only the first 2,000" in n for n in out["notes"])


# ---- backend selection (in-process; no server needed)

def test_onnx_backend_without_exports_names_the_export_command(tmp_path, monkeypatch):
    from helpers import write_tiny_checkpoints
    from export.runtime import onnx_predictors
    from page import settings
    from page.registry import Registry

    root = write_tiny_checkpoints(tmp_path / "ckpts", presets=("gru",))
    monkeypatch.setenv("RNN_DEMO_ONNX_DIR", str(tmp_path / "no-exports"))
    with pytest.raises(FileNotFoundError, match=r"python -m export --all"):
        Registry(root, onnx_predictors(settings.onnx_dir()), "onnx")
    assert settings.backend("onnx") == "onnx" and settings.backend(" Torch ") == "torch"
    with pytest.raises(ValueError, match="'torch' and 'onnx'"):
        settings.backend("tensorflow")


def test_onnx_backend_serves_the_same_probabilities(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    onnx_export = pytest.importorskip("export.onnx_export")
    from helpers import write_tiny_checkpoints
    from export.runtime import onnx_predictors
    from page.registry import Registry

    root = write_tiny_checkpoints(tmp_path / "ckpts", presets=("bilstm",))
    onnx_export.export_checkpoint(root / "bilstm", tmp_path / "exports" / "bilstm.onnx")
    monkeypatch.setenv("RNN_DEMO_ONNX_DIR", str(tmp_path / "exports"))
    onnx_reg, torch_reg = Registry(root, onnx_predictors(tmp_path / "exports"), "onnx"), Registry(root)
    assert type(onnx_reg.get("bilstm").predictor).__name__ == "OnnxPredictor"
    texts = ["bank cuts rates", "team wins the final match again and again"]
    assert np.allclose(onnx_reg.get("bilstm").predictor.predict_proba(texts),
                       torch_reg.get("bilstm").predictor.predict_proba(texts), atol=1e-5)
    # inspection stays on PyTorch whatever the backend
    assert onnx_reg.trace("bilstm", texts[0]).probabilities == pytest.approx(
        torch_reg.get("bilstm").predictor.predict_proba(texts[:1])[0], abs=1e-5)
