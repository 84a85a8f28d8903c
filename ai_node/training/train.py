"""Fine-tune the DR grader: ``python -m ai_node.training.train --out-dir DIR``.

Two phases from the ImageNet EfficientNet-Lite0: the new head alone with the
backbone frozen, then the whole network except batch normalisation (kept in
inference mode, as small CPU batches estimate statistics poorly). Class
imbalance is met with class-weighted cross-entropy; the epoch with the best
quadratic weighted kappa on the validation split is kept. IDRiD's official test
split is never loaded. Seeds, config, code revision and history are saved.

``--init-model`` goes on from a trained grader instead (its head too, so
``--head-epochs 0``); the grader as loaded is scored first and competes with
the epochs. ``--prefiltered`` reads a pack of images already through the
serving preprocessing (:mod:`ai_node.training.pack`), the way to ship the data
to a GPU machine compactly without re-filtering lossy copies. ``--max-seconds``
stops before an epoch that would overrun a wall-clock budget.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from collections import Counter
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ai_node.metrics import quadratic_weighted_kappa, roc_auc
from ai_node.model.grader import NUM_GRADES, build_grader, referable_probability, \
    transfer_backbone
from ai_node.training.config import TrainConfig, code_revision
from ai_node.training.datasets import TRAIN, VAL, Record, load_records
from ai_node.training.pack import check_pack
from ai_node.training.pipeline import load_images, predict_images, training_model

log = logging.getLogger(__name__)


def class_weights(grades: np.ndarray, power: float) -> np.ndarray:
    """Per-grade weights ``(N / (K n_k)) ** power``, normalised to a mean of 1 over samples."""
    counts = np.bincount(grades, minlength=NUM_GRADES).astype(float)
    raw = np.where(counts > 0, (len(grades) / (NUM_GRADES * np.maximum(counts, 1))) ** power, 0)
    return raw / (raw[grades].mean())


class BestKappa(keras.callbacks.Callback):
    """After each epoch, score the validation images and keep the best grader by QWK."""

    def __init__(self, grader: keras.Model, images: np.ndarray, grades: np.ndarray,
                 path: Path) -> None:
        super().__init__()
        self.grader, self.images, self.grades, self.path = grader, images, grades, path
        self.best = -np.inf
        self.best_probabilities: np.ndarray | None = None
        #: Epochs run so far over every phase; the best one's number (0: the initial grader).
        self.epochs_done = 0
        self.best_epoch: int | None = None

    def score(self) -> tuple[float, float]:
        """Validation QWK and referable AUC of the grader now; saves it if the best yet."""
        probabilities = predict_images(self.grader, self.images)
        kappa = quadratic_weighted_kappa(self.grades, probabilities.argmax(axis=1))
        auc = roc_auc(self.grades >= 2, referable_probability(probabilities))
        log.info("epoch %d: val QWK %.4f, referable AUC %.4f", self.epochs_done, kappa, auc)
        if kappa > self.best:
            self.best, self.best_probabilities = kappa, probabilities
            self.best_epoch = self.epochs_done
            self.grader.save(self.path)
        return kappa, auc

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epochs_done += 1
        kappa, auc = self.score()
        if logs is not None:
            logs["val_qwk"], logs["val_referable_auc"] = kappa, auc


class TimeBudget(keras.callbacks.Callback):
    """Stop before an epoch that would likely end past ``started + seconds``."""

    def __init__(self, started: float, seconds: float | None) -> None:
        super().__init__()
        self.started, self.seconds = started, seconds
        self.longest_epoch = 0.0
        self.exhausted = False
        self._epoch_started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_started = time.time()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.longest_epoch = max(self.longest_epoch, time.time() - self._epoch_started)
        if self.seconds is not None and \
                time.time() + 1.1 * self.longest_epoch > self.started + self.seconds:
            log.warning("stopping after this epoch: the next would overrun %.0f s", self.seconds)
            self.exhausted = True
            self.model.stop_training = True


def _compile(model: keras.Model, config: TrainConfig, learning_rate: Any) -> None:
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=config.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"])


def _set_trainable(grader: keras.Model, backbone: bool) -> None:
    for layer in grader.layers:
        frozen_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = layer.name == "logits" or (backbone and not frozen_bn)


def initial_grader(config: TrainConfig) -> keras.Model:
    """The grader to train: from ``init_model`` (head included), else the ImageNet backbone."""
    grader = build_grader(config.input_size, config.dropout_rate)
    if config.init_model is not None:
        source = keras.models.load_model(config.init_model, compile=False)
        transfer_backbone(grader, source)
        grader.get_layer("logits").set_weights(source.get_layer("logits").get_weights())
    elif config.imagenet_model is not None:
        transfer_backbone(grader, keras.models.load_model(config.imagenet_model, compile=False))
    return grader


def _finetune_schedule(rate: float, epochs: int, warmup_epochs: int,
                       steps: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """Cosine decay to 0 over the epochs, after an optional linear warm-up from 0."""
    warmup = min(max(warmup_epochs, 0), epochs - 1) * steps
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(rate, epochs * steps)
    return keras.optimizers.schedules.CosineDecay(0.0, epochs * steps - warmup,
                                                  warmup_target=rate, warmup_steps=warmup)


def fit(config: TrainConfig, train: tuple[np.ndarray, np.ndarray],
        val: tuple[np.ndarray, np.ndarray],
        started: float | None = None) -> tuple[BestKappa, list[dict[str, float]]]:
    """Run both phases; returns the best-kappa callback and the per-epoch history.

    With ``init_model`` the loaded grader is scored first, as epoch 0.
    """
    grader = initial_grader(config)
    model = training_model(grader, config.seed)
    images, grades = train
    weights = class_weights(grades, config.class_weight_power)[grades].astype(np.float32)
    onehot = keras.utils.to_categorical(grades, NUM_GRADES).astype(np.float32)
    steps = -(-len(images) // config.batch_size)
    best = BestKappa(grader, val[0], val[1], config.out_dir / "model.keras")
    budget = TimeBudget(time.time() if started is None else started, config.max_seconds)
    history: list[dict[str, float]] = []
    if config.init_model is not None:
        kappa, auc = best.score()
        history.append({"epoch": 0.0, "val_qwk": kappa, "val_referable_auc": auc})
    phases = [(False, config.head_epochs, config.head_learning_rate),
              (True, config.finetune_epochs, config.finetune_learning_rate)]
    for backbone, epochs, rate in phases:
        if epochs <= 0 or budget.exhausted:
            continue
        _set_trainable(grader, backbone)
        schedule = _finetune_schedule(rate, epochs, config.finetune_warmup_epochs, steps) \
            if backbone else rate
        _compile(model, config, schedule)
        first = best.epochs_done
        result = model.fit(images, onehot, sample_weight=weights, batch_size=config.batch_size,
                           epochs=epochs, shuffle=True, callbacks=[best, budget], verbose=2)
        keys = list(result.history)
        done = len(result.history[keys[0]]) if keys else 0
        history += [{"epoch": float(first + i + 1),
                     **{key: float(result.history[key][i]) for key in keys}}
                    for i in range(done)]
    return best, history


def _select(records: list[Record], split: str, cap: int | None, seed: int) -> list[Record]:
    chosen = [r for r in records if r.split == split]
    if cap is not None and len(chosen) > cap:
        rng = np.random.default_rng(seed)
        chosen = [chosen[i] for i in sorted(rng.choice(len(chosen), cap, replace=False))]
    return chosen


def _write_outputs(config: TrainConfig, val_records: list[Record], best: BestKappa,
                   history: list[dict[str, float]], facts: dict[str, Any]) -> None:
    with open(config.out_dir / "history.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=sorted({k for h in history for k in h}))
        writer.writeheader()
        writer.writerows(history)
    if best.best_probabilities is not None:
        with open(config.out_dir / "val_predictions.csv", "w", newline="") as handle:
            writer_ = csv.writer(handle)
            writer_.writerow(["file", "source", "icdr_grade"] + [f"p{g}" for g in range(5)])
            for record, p in zip(val_records, best.best_probabilities):
                writer_.writerow([str(record.path), record.source, record.grade]
                                 + [f"{v:.6f}" for v in p])
    facts["best_val_qwk"] = best.best
    facts["best_epoch"] = best.best_epoch
    facts["epochs_run"] = best.epochs_done
    config.save(config.out_dir / "config.json", **facts)


def run(config: TrainConfig) -> float:
    """Train per ``config``; returns the best validation QWK."""
    started = time.time()
    keras.utils.set_random_seed(config.seed)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    records = load_records(config.data_root, config.sets, config.val_fraction, config.seed)
    if config.extra_records_csv:  # reading it needs the DICOM stack, a GPU machine may lack it
        from ai_node.training.feedback import load_feedback_records

        records += load_feedback_records(config.extra_records_csv)
    if config.prefiltered:
        check_pack(config.data_root, config.input_size)
        records = [replace(r, already_filtered=True) for r in records]
    train_records = _select(records, TRAIN, config.max_train_images, config.seed)
    val_records = _select(records, VAL, None, config.seed)
    train = (load_images(train_records, config.input_size),
             np.array([r.grade for r in train_records]))
    val = (load_images(val_records, config.input_size), np.array([r.grade for r in val_records]))
    log.info("%d training and %d validation images loaded in %.0f s",
             len(train_records), len(val_records), time.time() - started)
    facts: dict[str, Any] = {
        "code_revision": code_revision(),
        "train_counts": dict(Counter(f"{r.source}:{r.grade}" for r in train_records)),
        "val_counts": dict(Counter(f"{r.source}:{r.grade}" for r in val_records)),
    }
    config.save(config.out_dir / "config.json", **facts)  # replaced, with results, at the end
    best, history = fit(config, train, val, started)
    facts["train_seconds"] = round(time.time() - started)
    _write_outputs(config, val_records, best, history, facts)
    return best.best


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """Command-line options, one per :class:`TrainConfig` field."""
    parser = argparse.ArgumentParser(description="Fine-tune the DR grader.")
    defaults = TrainConfig()
    for item in fields(TrainConfig):
        default = getattr(defaults, item.name)
        flag = "--" + item.name.replace("_", "-")
        if isinstance(default, tuple):
            parser.add_argument(flag, nargs="*", default=default)
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, (int, float)):
            parser.add_argument(flag, type=type(default), default=default)
        elif item.name == "max_train_images":
            parser.add_argument(flag, type=int, default=None)
        elif item.name == "max_seconds":
            parser.add_argument(flag, type=float, default=None)
        else:
            parser.add_argument(flag, type=lambda s: None if s == "none" else Path(s),
                                default=default)
    values = vars(parser.parse_args(argv))
    values["sets"] = tuple(values["sets"])
    values["extra_records_csv"] = tuple(Path(p) for p in values["extra_records_csv"])
    return TrainConfig(**values)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = parse_args(argv)
    print(json.dumps({"best_val_qwk": run(config), "out_dir": str(config.out_dir)}))


if __name__ == "__main__":
    main()
