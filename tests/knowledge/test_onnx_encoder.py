"""The embedding model on ONNX Runtime gives PyTorch's vectors; a model it cannot run stays on PyTorch."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from knowledge import embedding, onnx_encoder

WORDS = "Employees receive twenty five days of paid annual leave each year pro rata for part-time staff".split()
TEXTS = [
    "",
    "x",
    "Leave",
    "é ü 東京 🙂 — “quoted” text",
    "x" * 2000,
    *(" ".join((WORDS * 40)[:n]) for n in (3, 17, 60, 250, 400)),  # 400 words: cut at 256 tokens, as PyTorch cuts
]


@pytest.fixture(scope="module")
def torch_model():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(embedding.model_path(embedding.MODEL_NAME)), device="cpu")


def test_onnx_vectors_equal_pytorchs_alone_and_batched_with_texts_of_other_lengths(tmp_path, torch_model):
    folder = embedding.model_path(embedding.MODEL_NAME)
    encoder = onnx_encoder.load(folder, onnx_encoder.FP32, tmp_path)
    expected = torch_model.encode(TEXTS, normalize_embeddings=True)
    assert np.abs(encoder.encode(TEXTS, batch_size=4) - expected).max() < 1e-5
    for text, vector in zip(TEXTS, expected, strict=True):
        assert np.abs(encoder.encode([text])[0] - vector).max() < 1e-5, text[:30]
    assert encoder.encode([]).shape == (0, embedding.DIMENSIONS)


def test_the_export_is_made_once_per_weights_file_and_redone_when_they_change(tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(embedding.model_path(embedding.MODEL_NAME), folder)
    onnx_encoder.load(folder, onnx_encoder.FP32, tmp_path / "onnx")
    first = sorted((tmp_path / "onnx").iterdir())
    assert len(first) == 1 and first[0].suffix == ".onnx"
    made = first[0].stat().st_mtime_ns
    onnx_encoder.load(folder, onnx_encoder.FP32, tmp_path / "onnx")
    assert first[0].stat().st_mtime_ns == made, "not exported again"
    os.utime(folder / "model.safetensors", ns=(1, 1))  # retrained in place
    onnx_encoder.load(folder, onnx_encoder.FP32, tmp_path / "onnx")
    assert len(list((tmp_path / "onnx").iterdir())) == 2


def test_the_quantised_model_stays_close_to_the_full_one(tmp_path, torch_model):
    encoder = onnx_encoder.load(embedding.model_path(embedding.MODEL_NAME), onnx_encoder.INT8, tmp_path)
    vectors = encoder.encode(TEXTS[2:])
    expected = torch_model.encode(TEXTS[2:], normalize_embeddings=True)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (vectors * expected).sum(axis=1).min() > 0.85  # 0.885 measured: why it is not the default


def test_a_model_with_other_pooling_runs_on_pytorch(tmp_path, settings):
    folder = tmp_path / "models" / "cls-pooled"
    shutil.copytree(embedding.model_path(embedding.MODEL_NAME), folder)
    config = json.loads((folder / "1_Pooling" / "config.json").read_text())
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps(config | {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True})
    )
    with pytest.raises(onnx_encoder.NotExportable):
        onnx_encoder.load(folder, onnx_encoder.FP32, tmp_path / "onnx")
    settings.EMBEDDING_MODELS_DIR = tmp_path / "models"
    settings.EMBEDDING_ONNX_DIR = tmp_path / "onnx"
    model = embedding.get_model("cls-pooled")
    assert not isinstance(model, onnx_encoder.OnnxEncoder)
    assert not (tmp_path / "onnx").exists()


def test_a_question_vector_is_encoded_once_and_is_the_models_own(monkeypatch):
    encoded = []
    real = embedding.encode
    monkeypatch.setattr(embedding, "encode", lambda texts, **kw: encoded.extend(texts) or real(texts, **kw))
    question = "How many days of leave does a new parent get in the onnx test?"
    first = embedding.question_vector(question)
    second = embedding.question_vector(question)
    assert encoded == [question]
    assert np.array_equal(first, second) and np.allclose(first, real([question])[0], atol=1e-6)


def test_an_unknown_backend_is_refused_at_start():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "ragsite.settings",
            "EMBEDDING_BACKEND": "tensorflow",
            "DEBUG": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "EMBEDDING_BACKEND must be onnx, onnx-int8 or torch, not 'tensorflow'" in result.stderr


def test_an_unwritable_onnx_folder_leaves_the_model_on_pytorch(tmp_path, settings, caplog):
    shutil.copytree(embedding.model_path(embedding.MODEL_NAME), tmp_path / "models" / "no-onnx-folder")
    (tmp_path / "a-file").write_text("not a folder")
    settings.EMBEDDING_MODELS_DIR = tmp_path / "models"
    settings.EMBEDDING_ONNX_DIR = tmp_path / "a-file" / "onnx"
    model = embedding.get_model("no-onnx-folder")
    assert not isinstance(model, onnx_encoder.OnnxEncoder)
    assert model.encode(["Leave"], normalize_embeddings=True).shape == (1, embedding.DIMENSIONS)
    assert "runs on PyTorch: no ONNX file in" in caplog.text
