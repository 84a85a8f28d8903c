"""Training batches, and the training wrapper that normalises and augments them.

Two kinds of augmentation, each where it belongs:

- *Photometric*, in :class:`TrainingBatches`, on the cropped photograph
  *before* the Graham filter: brightness, contrast, gamma, colour cast and
  saturation, defocus blur and JPEG compression, strong enough to cover
  what other cameras, clinics and compression do. The filter that follows is
  the one the node applies (:func:`~ai_node.model.preprocessing.graham_filter`),
  so the model learns from what survives it. Lesions are still told apart by
  their colour *relative to the surrounding retina*, which the filter keeps.
- *Geometric*, in the Keras wrapper (:func:`training_model`): a fundus
  photograph has no canonical orientation across cameras and eyes, so flips
  and any rotation are label-preserving; zoom changes little.

Everything is Keras layers and NumPy, so training runs on any Keras backend,
while the saved grader stays free of augmentation.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import keras
import numpy as np
from PIL import Image, ImageFilter

from ai_node.model.grader import DME_NAME, NUM_GRADES, OUTPUT_NAME
from ai_node.model.preprocessing import FUNDUS_THRESHOLD, INPUT_MEAN, INPUT_STD, \
    graham_filter, load_rgb, normalise, prepare_fundus
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


def photometric(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A cropped raw photograph as another camera, exposure and encoder might give it.

    The black surround stays black, so the filter sees the same field edge.
    """
    mask = image.astype(np.float32).mean(axis=2, keepdims=True) > FUNDUS_THRESHOLD
    x = image.astype(np.float32) / 255.0
    x = x * rng.uniform(0.6, 1.4) * rng.uniform(0.85, 1.15, size=3)   # exposure, colour cast
    mean = x[mask[..., 0]].mean(axis=0) if mask.any() else x.mean(axis=(0, 1))
    x = (x - mean) * rng.uniform(0.7, 1.3) + mean                      # contrast
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(0.6, 1.4)                      # saturation
    x = np.clip(x, 0.0, 1.0) ** rng.uniform(0.7, 1.5)                  # gamma
    out = np.where(mask, np.clip(np.rint(x * 255.0), 0, 255), 0).astype(np.uint8)
    return degrade(out, rng)


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Defocus blur and JPEG compression, each now and then."""
    if rng.random() < 0.25:
        image = np.asarray(Image.fromarray(image).filter(
            ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5) * image.shape[0] / 224)))
    if rng.random() < 0.3:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=int(rng.integers(25, 91)))
        with Image.open(buffer) as decoded:
            image = np.asarray(decoded.convert("RGB"))
    return image


def model_input(image: np.ndarray, already_filtered: bool) -> np.ndarray:
    """A cached image (:mod:`ai_node.training.cache`) as the node would give it to the model."""
    return image if already_filtered else graham_filter(image)


def targets(records: Sequence[Record]) -> dict[str, np.ndarray]:
    """One-hot grades and DME labels (0 where not graded: its weight is 0)."""
    grades = np.array([r.grade for r in records])
    return {OUTPUT_NAME: keras.utils.to_categorical(grades, NUM_GRADES).astype(np.float32),
            DME_NAME: np.array([[r.dme or 0] for r in records], np.float32)}


class TrainingBatches(keras.utils.PyDataset):
    """Augmented, filtered batches with per-output targets and weights.

    Each epoch draws ``epoch_images`` records (all of them when None), each
    with a chance proportional to its source's weight, without replacement;
    the draw and the augmentation are seeded by the epoch number, so a run
    resumed from a checkpoint sees what it would have seen.
    """

    def __init__(self, records: Sequence[Record], images: np.ndarray, batch_size: int,
                 grade_weights: np.ndarray, dme_weight: float, seed: int,
                 epoch_images: int | None = None,
                 source_weights: Mapping[str, float] | None = None, augment: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.records, self.images, self.batch_size = list(records), images, batch_size
        self.targets = targets(records)
        grades = np.array([r.grade for r in records])
        self.grade_weights = grade_weights[grades].astype(np.float32)
        self.dme_weights = np.array([dme_weight if r.dme is not None else 0.0
                                     for r in records], np.float32)
        weights = np.array([(source_weights or {}).get(r.source, 1.0) for r in records])
        self.draw_weights = weights / weights.sum()
        self.seed, self.augment = seed, augment
        self.epoch_images = min(epoch_images or len(records), len(records))
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw the records of ``epoch`` (0-based)."""
        self.epoch = epoch
        rng = np.random.default_rng([self.seed, epoch])
        self.order = rng.choice(len(self.records), self.epoch_images, replace=False,
                                p=self.draw_weights)

    def on_epoch_end(self) -> None:
        self.set_epoch(self.epoch + 1)

    def __len__(self) -> int:
        return -(-self.epoch_images // self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, dict[str, np.ndarray],
                                               dict[str, np.ndarray]]:
        chosen = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        batch = []
        for i in chosen:
            image, filtered = self.images[i], self.records[i].already_filtered
            if self.augment:
                image = degrade(image, rng) if filtered else photometric(image, rng)
            batch.append(model_input(image, filtered))
        y = {key: value[chosen] for key, value in self.targets.items()}
        weights = {OUTPUT_NAME: self.grade_weights[chosen], DME_NAME: self.dme_weights[chosen]}
        return np.stack(batch), y, weights


def training_model(grader: keras.Model, seed: int) -> keras.Model:
    """``uint8`` images -> normalise -> augment -> ``grader``, sharing the grader's weights."""
    inputs = keras.Input(grader.input_shape[1:], name="uint8_image")
    scaled = keras.layers.Rescaling(1.0 / INPUT_STD, offset=-INPUT_MEAN / INPUT_STD,
                                    name="normalise")(inputs)
    return keras.Model(inputs, grader(augmenter(seed)(scaled)), name="training")


def predict_images(model: keras.Model, images: np.ndarray,
                   batch_size: int = 64) -> tuple[np.ndarray, np.ndarray | None]:
    """Grade probabilities and P(DME) (None without a DME output) for prepared images."""
    probabilities, dme = [], []
    for i in range(0, len(images), batch_size):
        out = model.predict_on_batch(normalise(images[i:i + batch_size]))
        if isinstance(out, dict):
            probabilities.append(np.asarray(out[OUTPUT_NAME]))
            dme.append(np.asarray(out[DME_NAME]).reshape(-1))
        else:
            probabilities.append(np.asarray(out))
    if not probabilities:
        return np.zeros((0, NUM_GRADES)), None
    return np.concatenate(probabilities), (np.concatenate(dme) if dme else None)
