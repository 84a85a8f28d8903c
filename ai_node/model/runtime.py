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

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class ModelOutputs:
    """Everything the served grader says about ``n`` images.

    ``dme`` is ``(n,)`` P(referable macular oedema), or None where the grader
    does not assess it (versions before 2.0): "not assessed", never "absent".
    """

    probabilities: np.ndarray
    maps: np.ndarray
    dme: np.ndarray | None


class Grader(Protocol):
    """Anything that turns normalised images into grade probabilities and activation maps."""

    input_size: int
    #: Whether the grader has a macular-oedema output.
    assesses_dme: bool

    def predict(self, images: np.ndarray) -> np.ndarray:
        """``(n, size, size, 3)`` float32 normalised images -> ``(n, 5)`` probabilities."""

    def predict_with_maps(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and the ``(n, h, w, 5)`` class activation maps."""

    def predict_outputs(self, images: np.ndarray) -> ModelOutputs:
        """Probabilities, activation maps and P(DME) where the grader has it."""


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

    The outputs are told apart by shape: probabilities ``(1, 5)``, maps
    ``(1, h, w, 5)``, P(DME) ``(1, 1)`` (graders from 2.0 on). An
    interpreter is not thread-safe: one per thread.
    """

    def __init__(self, path: Path, num_threads: int | None = None) -> None:
        self.interpreter = _interpreter_class()(model_path=str(path), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        outputs = {(len(d["shape"]), int(d["shape"][-1])): d["index"]
                   for d in self.interpreter.get_output_details()}
        self._probabilities = outputs[(2, 5)]
        self._maps = outputs.get((4, 5))
        self._dme = outputs.get((2, 1))
        self.assesses_dme = self._dme is not None
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

    def predict_outputs(self, images: np.ndarray) -> ModelOutputs:
        """Probabilities, activation maps and P(DME) for each normalised image."""
        if self._maps is None:
            raise ValueError("this TFLite file was exported without activation maps")
        probabilities, maps, dme = [], [], []
        for image in np.asarray(images, np.float32):
            self._run(image)
            probabilities.append(self.interpreter.get_tensor(self._probabilities)[0].copy())
            maps.append(self.interpreter.get_tensor(self._maps)[0].copy())
            if self._dme is not None:
                dme.append(float(self.interpreter.get_tensor(self._dme)[0, 0]))
        return ModelOutputs(np.stack(probabilities), np.stack(maps),
                            np.array(dme, np.float32) if self._dme is not None else None)


class KerasGrader:
    """Runs the Keras file with its activation maps; same interface as :class:`TFLiteGrader`."""

    def __init__(self, path: Path) -> None:
        import keras

        from ai_node.model.grader import serving_model

        self.model = serving_model(keras.models.load_model(path, compile=False))
        self.input_size = int(self.model.input_shape[1])
        self.assesses_dme = len(self.model.outputs) == 3

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Grade probabilities for each normalised image."""
        return self.predict_with_maps(images)[0]

    def predict_with_maps(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and class activation maps for each normalised image."""
        outputs = self.predict_outputs(images)
        return outputs.probabilities, outputs.maps

    def predict_outputs(self, images: np.ndarray) -> ModelOutputs:
        """Probabilities, activation maps and P(DME) for each normalised image."""
        outputs = self.model.predict_on_batch(np.asarray(images, np.float32))
        dme = np.asarray(outputs[2]).reshape(-1) if self.assesses_dme else None
        return ModelOutputs(np.asarray(outputs[0]), np.asarray(outputs[1]), dme)


def load_grader(path: Path) -> Grader:
    """A grader for a ``.tflite`` or ``.keras`` file, by extension."""
    if path.suffix == ".tflite":
        return TFLiteGrader(path)
    return KerasGrader(path)
