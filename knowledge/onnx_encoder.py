"""The embedding model on ONNX Runtime: the same weights, exported from the model's own folder.

PyTorch spends most of a short text's encode in per-call overhead; ONNX Runtime runs the same
graph about 2.5x faster for one question and 1.3x for a batch (README, "Sizing"). The export is
done once per model and weights file, on first use, into EMBEDDING_ONNX_DIR (a second process
exporting at the same time writes its own file and the last rename wins; both are the same).
Only the layout every model here has is exported (a BERT transformer, mean pooling, L2
normalisation); anything else is refused, and `EMBEDDING_BACKEND=torch` runs it as before.
"""

import hashlib
import json
import logging
import os
import threading
import warnings
from pathlib import Path

import numpy as np

FP32, INT8 = "onnx", "onnx-int8"
_MODULES = [
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
]
_INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


class NotExportable(Exception):
    """The model's folder holds something other than transformer, mean pooling, normalisation."""


class OnnxEncoder:
    """The part of SentenceTransformer's interface the product calls: `encode`, `get_embedding_dimension`."""

    def __init__(self, folder: Path, exported: Path, *, threads: int = 0) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        # Idle pool threads would spin for work: CPU a busy web process needs for other requests.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(exported), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=_max_length(folder))
        self.tokenizer.no_padding()
        self.dimensions = json.loads((folder / "1_Pooling" / "config.json").read_text())["word_embedding_dimension"]

    def get_embedding_dimension(self) -> int:
        return self.dimensions

    def encode(self, texts: list[str], *, batch_size: int = 32, **_ignored) -> np.ndarray:
        """Normalised vectors; texts of like length batched together, as sentence-transformers does."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        if not all(isinstance(text, str) for text in texts):
            raise ValueError("Unsupported input type: the embedding model encodes strings only")
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        vectors = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            vectors[rows] = self._encode_batch([encodings[i] for i in rows])
        return vectors

    def _encode_batch(self, encodings: list) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
            types[row, : len(e.ids)] = e.type_ids
        hidden = self.session.run(None, dict(zip(_INPUTS, (ids, mask, types), strict=True)))[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


def _max_length(folder: Path) -> int:
    config = folder / "sentence_bert_config.json"
    return json.loads(config.read_text()).get("max_seq_length", 256) if config.is_file() else 256


def exported_path(folder: Path, backend: str, into: Path) -> Path:
    """The ONNX file for this folder's weights as they are now (a retrained model gets a new file)."""
    weights = folder / "model.safetensors"
    if not weights.is_file():
        weights = folder / "pytorch_model.bin"
    stat = weights.stat()
    key = hashlib.sha256(f"{folder.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return into / f"{folder.name}-{key}{'-int8' if backend == INT8 else ''}.onnx"


_export_lock = threading.Lock()


def load(folder: Path, backend: str, into: Path, *, threads: int = 0) -> OnnxEncoder:
    """The encoder for `folder`, exported first when this weights file has no ONNX file yet."""
    modules = json.loads((folder / "modules.json").read_text())
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text()) if (folder / "1_Pooling").is_dir() else {}
    if [m["type"] for m in modules] != _MODULES or not pooling.get("pooling_mode_mean_tokens"):
        raise NotExportable(f"{folder.name} is not transformer + mean pooling + normalisation")
    target = exported_path(folder, backend, into)
    with _export_lock:
        if not target.is_file():
            into.mkdir(parents=True, exist_ok=True)
            plain = exported_path(folder, FP32, into)
            if not plain.is_file():
                _export(folder, plain)
            if backend == INT8:
                _quantise(plain, target)
    return OnnxEncoder(folder, target, threads=threads)


def _export(folder: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    model = AutoModel.from_pretrained(str(folder)).eval()
    example = torch.ones((2, 8), dtype=torch.int64)
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes; equality with PyTorch is tested
        torch.onnx.export(
            LastHiddenState(model),
            (example, example, torch.zeros_like(example)),
            str(partial),
            input_names=_INPUTS,
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*_INPUTS, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    os.replace(partial, target)


def _quantise(plain: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    logging.disable(logging.INFO)  # a line per tensor, on the root logger
    try:
        quantize_dynamic(str(plain), str(partial), weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)
    os.replace(partial, target)
