"""Images in memory, and the training wrapper that normalises and augments them.

The wrapper takes ``uint8`` images (as :func:`load_images` returns them),
scales them as :func:`~ai_node.model.preprocessing.normalise` does and
augments them on the accelerator; augmentation layers are active in training
only. Everything is Keras layers and NumPy, so training runs on any Keras
backend (TensorFlow on CPU, PyTorch or JAX on a GPU), while the saved grader
stays free of augmentation.

A fundus photograph has no canonical orientation across cameras and eyes, so
flips and any rotation are label-preserving; zoom and brightness change little.
Colour shifts stay small: lesions are told apart by colour.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np

from ai_node.model.preprocessing import INPUT_MEAN, INPUT_STD, load_rgb, normalise, \
    prepare_fundus
from ai_node.training.datasets import Record


def load_images(records: Sequence[Record], size: int, workers: int | None = None) -> np.ndarray:
    """Every record through :func:`prepare_fundus`, as ``uint8 (n, size, size, 3)``."""
    def one(record: Record) -> np.ndarray:
        return prepare_fundus(load_rgb(record.path), size, record.already_filtered)

    with ThreadPoolExecutor(workers or os.cpu_count() or 2) as pool:
        return np.stack(list(pool.map(one, records)))


def augmenter(seed: int) -> keras.Sequential:
    """Random flips, full-circle rotation, mild zoom and contrast, on normalised images."""
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal_and_vertical", seed=seed),
        keras.layers.RandomRotation(0.5, fill_mode="constant", fill_value=0.0, seed=seed + 1),
        keras.layers.RandomZoom((-0.1, 0.1), fill_mode="constant", fill_value=0.0, seed=seed + 2),
        keras.layers.RandomContrast(0.1, value_range=(-1, 1), seed=seed + 3),
    ], name="augment")


def training_model(grader: keras.Model, seed: int) -> keras.Model:
    """``uint8`` images -> normalise -> augment -> ``grader``, sharing the grader's weights."""
    inputs = keras.Input(grader.input_shape[1:], name="uint8_image")
    scaled = keras.layers.Rescaling(1.0 / INPUT_STD, offset=-INPUT_MEAN / INPUT_STD,
                                    name="normalise")(inputs)
    return keras.Model(inputs, grader(augmenter(seed)(scaled)), name="training")


def predict_images(model: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Model outputs for prepared ``uint8`` images, in batches."""
    outputs = [np.asarray(model.predict_on_batch(normalise(images[i:i + batch_size])))
               for i in range(0, len(images), batch_size)]
    return np.concatenate(outputs) if outputs else np.zeros((0, model.output_shape[-1]))
