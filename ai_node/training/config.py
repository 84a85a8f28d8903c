"""Every tunable of a training run in one frozen object, saved beside the model."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ai_node.training.datasets import ALL_SETS


@dataclass(frozen=True)
class TrainConfig:
    """A training run: data, schedule, and where the results go."""

    #: Folder holding fundus-dr600/, idrid-grading/, aptos2019-gauss224/, eyepacs-*/.
    data_root: Path = Path("../shared/data")
    #: Where ODIR-5K was staged (README-odir.md); None: ``data_root/odir``.
    odir_root: Path | None = None
    #: Decoded, cropped and resized images kept between runs (:mod:`ai_node.training.cache`);
    #: None: prepared anew in memory.
    cache_dir: Path | None = Path("var/cache/prepared")
    #: Output folder: model.keras, config.json, history.csv, val_predictions.csv.
    out_dir: Path = Path("var/training/run")
    #: The converted ImageNet model (scripts/convert_efficientnet_lite0.py); None: random init.
    imagenet_model: Path | None = Path("var/weights/efficientnet_lite0_imagenet.keras")
    #: A trained grader (a registered version's model.keras) to go on from, head included,
    #: instead of the ImageNet backbone; its validation split must be this run's (same
    #: seed and val_fraction), or validation images it trained on would select the model.
    init_model: Path | None = None
    #: Every image under data_root has been through prepare_fundus at input_size
    #: already (a pack from ``python -m ai_node.training.pack``): no source is filtered again.
    prefiltered: bool = False
    sets: tuple[str, ...] = ALL_SETS
    #: Training images drawn per epoch (None: every one), each with a chance
    #: proportional to its source's weight (``source_weights``, ``name=weight``; default 1).
    epoch_images: int | None = None
    source_weights: tuple[str, ...] = ()
    #: Weight of the macular-oedema loss beside the grade's (masked where DME is not graded).
    dme_weight: float = 1.0
    #: Read an ICDR 0 eye of a set that does not grade oedema as DME absent
    #: (:func:`~ai_node.training.datasets.absent_oedema_without_retinopathy`).
    dme_absent_without_dr: bool = False
    #: Go on from ``out_dir/checkpoint.keras`` (weights, optimiser, epoch) where one is there.
    resume: bool = False
    input_size: int = 224
    batch_size: int = 32
    #: Epochs with the backbone frozen, then epochs with everything but batch norm trained.
    head_epochs: int = 2
    finetune_epochs: int = 8
    head_learning_rate: float = 1e-3
    finetune_learning_rate: float = 3e-4
    #: Fine-tuning epochs of linear warm-up from 0 to finetune_learning_rate before the
    #: cosine decay (counted within finetune_epochs); spares a trained grader (init_model)
    #: the large first steps of a fresh Adam.
    finetune_warmup_epochs: int = 0
    weight_decay: float = 1e-5
    label_smoothing: float = 0.05
    dropout_rate: float = 0.3
    #: Class weights are (N / (K n_k)) ** power: 0 none, 1 full inverse frequency.
    class_weight_power: float = 0.5
    val_fraction: float = 0.15
    seed: int = 2024
    #: Optional cap on training images per epoch (quick runs, tests).
    max_train_images: int | None = None
    #: Optional wall-clock budget of the run (loading included): no epoch is begun that
    #: would likely end past it; the best epoch so far is kept as usual.
    max_seconds: float | None = None
    extra_records_csv: tuple[Path, ...] = field(default_factory=tuple)

    def roots(self) -> dict[str, Path]:
        """Folders of sets kept outside ``data_root``."""
        return {} if self.odir_root is None else {"odir": self.odir_root}

    def weights_by_source(self) -> dict[str, float]:
        """``source_weights`` as a mapping."""
        pairs = (item.split("=", 1) for item in self.source_weights)
        return {name: float(weight) for name, weight in pairs}

    def to_json(self) -> dict[str, Any]:
        """The config as JSON-ready values (paths as strings)."""
        return {key: _plain(value) for key, value in asdict(self).items()}

    def save(self, path: Path, **extra: Any) -> None:
        """Write the config plus ``extra`` facts (code revision, counts) as JSON."""
        payload = {"config": self.to_json(), **extra}
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def code_revision(repo: Path = Path(__file__).resolve().parents[2]) -> str:
    """``git describe``-like revision of the code, with ``-dirty`` for local changes.

    Where the code runs from a copy without Git (a training machine),
    ``FOVEA_CODE_REVISION`` names it.
    """
    if os.environ.get("FOVEA_CODE_REVISION"):
        return os.environ["FOVEA_CODE_REVISION"]
    try:
        result = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"
