"""Fine-tune the DR grader: ``python -m ai_node.training.train --out-dir DIR``.

Two phases from the ImageNet EfficientNet-Lite0: the new heads alone with the
backbone frozen, then the whole network except batch normalisation (kept in
inference mode, as small CPU batches estimate statistics poorly). The grader
has two heads: the ICDR grade (class-weighted cross-entropy) and referable
macular oedema (binary cross-entropy, weighted 0 where a set does not grade
oedema). IDRiD's official test split and every suggested test split are never
loaded.

Model selection reads the validation images of the raw colour sets in the run
(the kind the node serves), pooled: the epoch with the best sum of quadratic
weighted kappa and referable AUC (referable: grade >= 2 or DME, scored with
:func:`~ai_node.model.grader.referable_probability`) is kept. Seeds, config,
code revision and history are saved.

``--init-model`` goes on from a trained grader instead (its heads too, where
it has them, so ``--head-epochs 0``); the grader as loaded is scored first
and competes with the epochs. ``--prefiltered`` reads a pack of images already
through the serving preprocessing (:mod:`ai_node.training.pack`).
``--max-seconds`` stops before an epoch that would overrun a wall-clock
budget, and ``--resume`` goes on from the last finished epoch (weights,
optimiser state and schedule), so that a long run on a CPU can be done in
pieces.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ai_node.metrics import quadratic_weighted_kappa, roc_auc
from ai_node.model.grader import DME_NAME, NUM_GRADES, OUTPUT_NAME, build_grader, has_dme, \
    referable_probability, transfer_backbone
from ai_node.training.cache import unfiltered_images
from ai_node.training.config import TrainConfig, code_revision
from ai_node.training.datasets import RAW_COLOUR, TRAIN, VAL, Record, \
    absent_oedema_without_retinopathy, load_records
from ai_node.training.pack import check_pack
from ai_node.training.pipeline import TrainingBatches, model_input, predict_images, \
    training_model

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.keras"
STATE = "state.json"


def class_weights(grades: np.ndarray, power: float) -> np.ndarray:
    """Per-grade weights ``(N / (K n_k)) ** power``, normalised to a mean of 1 over samples."""
    counts = np.bincount(grades, minlength=NUM_GRADES).astype(float)
    raw = np.where(counts > 0, (len(grades) / (NUM_GRADES * np.maximum(counts, 1))) ** power, 0)
    return raw / (raw[grades].mean())


@dataclass
class Validation:
    """The validation images model selection reads, prepared as the node prepares them."""

    records: list[Record]
    images: np.ndarray = field(repr=False)

    @property
    def grades(self) -> np.ndarray:
        return np.array([r.grade for r in self.records])


def scores(records: list[Record], probabilities: np.ndarray,
           dme: np.ndarray | None) -> dict[str, float]:
    """QWK, referable AUC (DR and DME together) and DME AUC where oedema is graded."""
    grades = np.array([r.grade for r in records])
    referable = np.array([r.referable for r in records])
    result = {"val_qwk": quadratic_weighted_kappa(grades, probabilities.argmax(axis=1)),
              "val_referable_auc": roc_auc(referable, referable_probability(probabilities, dme))}
    graded = np.array([r.dme is not None for r in records])
    if dme is not None and graded.any():
        truth = np.array([r.dme == 1 for r in records])[graded]
        if 0 < truth.sum() < truth.size:
            result["val_dme_auc"] = roc_auc(truth, dme[graded])
    return result


class BestModel(keras.callbacks.Callback):
    """After each epoch: score the validation images, keep the best grader, checkpoint."""

    def __init__(self, grader: keras.Model, validation: Validation, out_dir: Path,
                 state: dict[str, Any]) -> None:
        super().__init__()
        self.grader, self.validation, self.out_dir = grader, validation, out_dir
        self.state = state
        self.best_probabilities: np.ndarray | None = None
        self.best_dme: np.ndarray | None = None

    @property
    def best(self) -> float:
        return float(self.state.get("best", -np.inf))

    @property
    def epochs_done(self) -> int:
        return int(self.state.get("epochs_done", 0))

    def score(self) -> dict[str, float]:
        """Validation scores of the grader now; saves it if the best yet."""
        probabilities, dme = predict_images(self.grader, self.validation.images)
        result = scores(self.validation.records, probabilities, dme)
        selection = result["val_qwk"] + result["val_referable_auc"]
        log.info("epoch %d: %s", self.epochs_done,
                 ", ".join(f"{key} {value:.4f}" for key, value in result.items()))
        if selection > self.best:
            self.state.update(best=selection, best_epoch=self.epochs_done, best_scores=result)
            self.best_probabilities, self.best_dme = probabilities, dme
            self.grader.save(self.out_dir / "model.keras")
            write_predictions(self.out_dir / "val_predictions.csv", self.validation.records,
                              probabilities, dme)
        return result

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.state["epochs_done"] = self.epochs_done + 1
        result = self.score()
        self.state.setdefault("history", []).append(
            {"epoch": float(self.epochs_done), **{k: float(v) for k, v in (logs or {}).items()},
             **result})
        if logs is not None:
            logs.update(result)
        # The checkpoint first, then the state that points at it.
        self.model.save(self.out_dir / CHECKPOINT)
        save_state(self.out_dir, self.state)


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


def save_state(out_dir: Path, state: dict[str, Any]) -> None:
    """Write the run's progress atomically."""
    partial = out_dir / (STATE + ".partial")
    partial.write_text(json.dumps(state, indent=2, default=float) + "\n")
    partial.replace(out_dir / STATE)


def load_state(out_dir: Path) -> dict[str, Any]:
    """The progress of an earlier run into ``out_dir``, or an empty state."""
    path = out_dir / STATE
    return json.loads(path.read_text()) if path.is_file() else {}


def _compile(model: keras.Model, config: TrainConfig, learning_rate: Any) -> None:
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=config.weight_decay),
        loss={OUTPUT_NAME: keras.losses.CategoricalCrossentropy(
                  label_smoothing=config.label_smoothing),
              DME_NAME: keras.losses.BinaryCrossentropy()},
        metrics={OUTPUT_NAME: ["accuracy"]})


def _set_trainable(grader: keras.Model, backbone: bool) -> None:
    for layer in grader.layers:
        frozen_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = layer.name in ("logits", DME_NAME) or (backbone and not frozen_bn)


def initial_grader(config: TrainConfig) -> keras.Model:
    """The grader to train: from ``init_model`` (heads included), else the ImageNet backbone."""
    grader = build_grader(config.input_size, config.dropout_rate)
    if config.init_model is not None:
        source = keras.models.load_model(config.init_model, compile=False)
        transfer_backbone(grader, source)
        grader.get_layer("logits").set_weights(source.get_layer("logits").get_weights())
        if has_dme(source):
            grader.get_layer(DME_NAME).set_weights(source.get_layer(DME_NAME).get_weights())
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


def _phases(config: TrainConfig) -> list[tuple[bool, int, float]]:
    return [(False, config.head_epochs, config.head_learning_rate),
            (True, config.finetune_epochs, config.finetune_learning_rate)]


def fit(config: TrainConfig, batches: TrainingBatches, validation: Validation,
        started: float | None = None) -> BestModel:
    """Run both phases, or what is left of them after a checkpoint; returns the selector.

    With ``init_model`` the loaded grader is scored first, as epoch 0.
    """
    state = load_state(config.out_dir) if config.resume else {}
    checkpoint = config.out_dir / CHECKPOINT
    resumed = bool(state) and checkpoint.is_file()
    if resumed:
        model = keras.models.load_model(checkpoint)
        grader = model.get_layer("dr_grader")
        log.info("resuming after epoch %d (best so far %.4f)", state["epochs_done"],
                 state.get("best", float("nan")))
    else:
        state = {"epochs_done": 0, "history": []}
        grader = initial_grader(config)
        model = training_model(grader, config.seed)
    best = BestModel(grader, validation, config.out_dir, state)
    budget = TimeBudget(time.time() if started is None else started, config.max_seconds)
    if not resumed and config.init_model is not None:
        state["history"].append({"epoch": 0.0, **best.score()})
        save_state(config.out_dir, state)
    first_epoch = 0
    for index, (backbone, epochs, rate) in enumerate(_phases(config)):
        done_here = min(max(best.epochs_done - first_epoch, 0), epochs)
        first_epoch += epochs
        if epochs <= 0 or done_here == epochs or budget.exhausted:
            continue
        if not (resumed and done_here > 0):  # a resumed phase keeps its optimiser state
            _set_trainable(grader, backbone)
            schedule = _finetune_schedule(rate, epochs, config.finetune_warmup_epochs,
                                          len(batches)) if backbone else rate
            _compile(model, config, schedule)
        batches.set_epoch(best.epochs_done)
        model.fit(batches, initial_epoch=done_here, epochs=epochs, callbacks=[best, budget],
                  verbose=2)
        resumed = False
    state["finished"] = not budget.exhausted
    save_state(config.out_dir, state)
    return best


def _select(records: list[Record], split: str, cap: int | None, seed: int) -> list[Record]:
    chosen = [r for r in records if r.split == split]
    if cap is not None and len(chosen) > cap:
        rng = np.random.default_rng(seed)
        chosen = [chosen[i] for i in sorted(rng.choice(len(chosen), cap, replace=False))]
    return chosen


def write_predictions(path: Path, records: list[Record], probabilities: np.ndarray,
                      dme: np.ndarray | None) -> None:
    """Per-image validation outputs, with the combined referable probability."""
    p_referable = referable_probability(probabilities, dme)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "source", "icdr_grade", "dme", "referable"]
                        + [f"p{g}" for g in range(NUM_GRADES)] + ["p_dme", "p_referable"])
        for i, record in enumerate(records):
            writer.writerow([str(record.path), record.source, record.grade,
                             "" if record.dme is None else record.dme, int(record.referable)]
                            + [f"{v:.6f}" for v in probabilities[i]]
                            + ["" if dme is None else f"{dme[i]:.6f}", f"{p_referable[i]:.6f}"])


def _write_outputs(config: TrainConfig, best: BestModel, facts: dict[str, Any]) -> None:
    history = best.state.get("history", [])
    with open(config.out_dir / "history.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=sorted({k for h in history for k in h}))
        writer.writeheader()
        writer.writerows(history)
    facts["best_selection_score"] = best.best
    facts["best_scores"] = best.state.get("best_scores")
    facts["best_val_qwk"] = (best.state.get("best_scores") or {}).get("val_qwk")
    facts["best_epoch"] = best.state.get("best_epoch")
    facts["epochs_run"] = best.epochs_done
    facts["finished"] = best.state.get("finished", False)
    config.save(config.out_dir / "config.json", **facts)


def validation_records(records: list[Record], sets: tuple[str, ...]) -> list[Record]:
    """The validation images of the run's raw colour sets; of all its sets if it has none."""
    val = [r for r in records if r.split == VAL]
    raw = [r for r in val if r.source in RAW_COLOUR and r.source in sets]
    return raw or val


def run(config: TrainConfig) -> float:
    """Train per ``config``; returns the best validation QWK."""
    started = time.time()
    keras.utils.set_random_seed(config.seed)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    records = load_records(config.data_root, config.sets, config.val_fraction, config.seed,
                           config.roots())
    if config.extra_records_csv:  # reading it needs the DICOM stack, a GPU machine may lack it
        from ai_node.training.feedback import load_feedback_records

        records += load_feedback_records(config.extra_records_csv)
    if config.dme_absent_without_dr:
        records = absent_oedema_without_retinopathy(records)
    if config.prefiltered:
        check_pack(config.data_root, config.input_size)
        records = [replace(r, already_filtered=True) for r in records]
    train_records = _select(records, TRAIN, config.max_train_images, config.seed)
    val_records = validation_records(records, config.sets)
    train_images = unfiltered_images(train_records, config.input_size, config.cache_dir)
    val_images = np.stack([model_input(image, r.already_filtered) for image, r in zip(
        unfiltered_images(val_records, config.input_size, config.cache_dir), val_records)])
    log.info("%d training and %d validation images loaded in %.0f s",
             len(train_records), len(val_records), time.time() - started)
    grades = np.array([r.grade for r in train_records])
    batches = TrainingBatches(train_records, train_images, config.batch_size,
                              class_weights(grades, config.class_weight_power),
                              config.dme_weight, config.seed, config.epoch_images,
                              config.weights_by_source())
    facts: dict[str, Any] = {
        "code_revision": code_revision(),
        "train_counts": dict(Counter(f"{r.source}:{r.grade}" for r in train_records)),
        "val_counts": dict(Counter(f"{r.source}:{r.grade}" for r in val_records)),
        "train_dme_graded": sum(r.dme is not None for r in train_records),
    }
    config.save(config.out_dir / "config.json", **facts)  # replaced, with results, at the end
    best = fit(config, batches, Validation(val_records, val_images), started)
    facts["train_seconds"] = round(time.time() - started)
    _write_outputs(config, best, facts)
    return float((best.state.get("best_scores") or {}).get("val_qwk", float("nan")))


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """Command-line options, one per :class:`TrainConfig` field."""
    parser = argparse.ArgumentParser(description="Fine-tune the DR grader.")
    defaults = TrainConfig()
    optional_ints = ("max_train_images", "epoch_images")
    for item in fields(TrainConfig):
        default = getattr(defaults, item.name)
        flag = "--" + item.name.replace("_", "-")
        if isinstance(default, tuple):
            parser.add_argument(flag, nargs="*", default=default)
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, (int, float)):
            parser.add_argument(flag, type=type(default), default=default)
        elif item.name in optional_ints:
            parser.add_argument(flag, type=int, default=None)
        elif item.name == "max_seconds":
            parser.add_argument(flag, type=float, default=None)
        else:
            parser.add_argument(flag, type=lambda s: None if s == "none" else Path(s),
                                default=default)
    values = vars(parser.parse_args(argv))
    values["sets"] = tuple(values["sets"])
    values["source_weights"] = tuple(values["source_weights"])
    values["extra_records_csv"] = tuple(Path(p) for p in values["extra_records_csv"])
    return TrainConfig(**values)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = parse_args(argv)
    print(json.dumps({"best_val_qwk": run(config), "out_dir": str(config.out_dir)}))


if __name__ == "__main__":
    main()
