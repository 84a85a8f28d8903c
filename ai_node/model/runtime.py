"""The served runtime: a TensorFlow Lite export of the Keras grader.

TFLite through ``ai-edge-litert`` is the fastest CPU runtime measured for this
model, and the node needs no full TensorFlow to serve it. Training writes
Keras; :func:`export_tflite` converts the grader with its class activation
maps as a second output (:func:`~ai_node.model.grader.serving_model`; float32,
no quantisation, so the served outputs match Keras to rounding);
:class:`TFLiteGrader` runs it; and :class:`KerasGrader` runs the Keras file
with the same interface.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class Grader(Protocol):
    """Anything that turns normalised images into grade probabilities and activation maps."""

    input_size: int

    def predict(self, images: np.ndarray) -> np.ndarray:
        """``(n, size, size, 3)`` float32 normalised images -> ``(n, 5)`` probabilities."""

    def predict_with_maps(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and the ``(n, h, w, 5)`` class activation maps."""


def export_tflite(keras_path: Path, out_path: Path) -> Path:
    """Convert a saved Keras grader, with its activation maps, into a float32 ``.tflite``."""
    import keras
    import tensorflow as tf

    from ai_node.model.grader import serving_model

    model = serving_model(keras.models.load_model(keras_path, compile=False))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    out_path.write_bytes(converter.convert())
    return out_path


def _interpreter_class() -> type:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the TensorFlow wheel carries the same interpreter
        from tensorflow.lite import Interpreter
    return Interpreter


class TFLiteGrader:
    """Runs a ``.tflite`` grader one image at a time (batch 1, as exported).

    The two outputs are told apart by rank: probabilities ``(1, 5)``, maps
    ``(1, h, w, 5)``. An interpreter is not thread-safe: one per thread.
    """

    def __init__(self, path: Path, num_threads: int | None = None) -> None:
        self.interpreter = _interpreter_class()(model_path=str(path), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        outputs = {len(d["shape"]): d["index"] for d in self.interpreter.get_output_details()}
        self._probabilities, self._maps = outputs[2], outputs.get(4)
        self.input_size = int(self._input["shape"][1])

    def _run(self, image: np.ndarray) -> None:
        if tuple(self._input["shape"]) != (1,) + image.shape:
            self.interpreter.resize_tensor_input(self._input["index"], (1,) + image.shape)
            self.interpreter.allocate_tensors()
            self._input = self.interpreter.get_input_details()[0]
        self.interpreter.set_tensor(self._input["index"], image[None])
        self.interpreter.invoke()

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Grade probabilities for each normalised image."""
        results = []
        for image in np.asarray(images, np.float32):
            self._run(image)
            results.append(self.interpreter.get_tensor(self._probabilities)[0].copy())
        return np.stack(results) if results else np.zeros((0, 5), np.float32)

    def predict_with_maps(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and class activation maps for each normalised image."""
        if self._maps is None:
            raise ValueError("this TFLite file was exported without activation maps")
        probabilities, maps = [], []
        for image in np.asarray(images, np.float32):
            self._run(image)
            probabilities.append(self.interpreter.get_tensor(self._probabilities)[0].copy())
            maps.append(self.interpreter.get_tensor(self._maps)[0].copy())
        return np.stack(probabilities), np.stack(maps)


class KerasGrader:
    """Runs the Keras file with its activation maps; same interface as :class:`TFLiteGrader`."""

    def __init__(self, path: Path) -> None:
        import keras

        from ai_node.model.grader import serving_model

        self.model = serving_model(keras.models.load_model(path, compile=False))
        self.input_size = int(self.model.input_shape[1])

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Grade probabilities for each normalised image."""
        return self.predict_with_maps(images)[0]

    def predict_with_maps(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and class activation maps for each normalised image."""
        probabilities, maps = self.model.predict_on_batch(np.asarray(images, np.float32))
        return np.asarray(probabilities), np.asarray(maps)


def load_grader(path: Path) -> Grader:
    """A grader for a ``.tflite`` or ``.keras`` file, by extension."""
    if path.suffix == ".tflite":
        return TFLiteGrader(path)
    return KerasGrader(path)
