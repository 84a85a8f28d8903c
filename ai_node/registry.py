"""The model registry: versions on disk, one active per model name.

Layout (under ``models/`` by default)::

    models/<name>/ACTIVE                 the active version, one line
    models/<name>/history.json           every promotion, oldest first (for roll back)
    models/<name>/<version>/model.keras  the trained Keras model
    models/<name>/<version>/model.tflite the served export (float32 TFLite)
    models/<name>/<version>/metadata.json facts: input size, preprocessing, metrics, ...
    models/<name>/<version>/MODEL_CARD.md the model card (Mitchell et al., FAT* 2019)

The AI node serves ``Registry(root).active(name)``; promoting or rolling back
changes what it serves with no code change. Each version has its own Device
UID (:attr:`ModelEntry.device_uid`) for the SR's Contributing Equipment.

CLI: ``python -m ai_node.registry [--root models] register|list|promote|rollback|
record-evaluation`` (also installed as ``fovea-models``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imaging_common.uids import derived_uid

from ai_node.model_card import render_model_card

DEFAULT_ROOT = Path("models")
KERAS_FILE, SERVED_FILE = "model.keras", "model.tflite"
METADATA_FILE, CARD_FILE, ACTIVE_FILE, HISTORY_FILE = (
    "metadata.json", "MODEL_CARD.md", "ACTIVE", "history.json")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class RegistryError(Exception):
    """Unknown model or version, a version registered twice, or a bad name."""


@dataclass(frozen=True)
class ModelEntry:
    """One registered version of a model."""

    name: str
    version: str
    path: Path
    metadata: dict[str, Any]

    @property
    def served_path(self) -> Path:
        """The file the node runs (TFLite)."""
        return self.path / SERVED_FILE

    @property
    def keras_path(self) -> Path:
        return self.path / KERAS_FILE

    @property
    def input_size(self) -> int:
        return int(self.metadata["input_size"])

    @property
    def operating_point(self) -> float:
        """Referable-DR probability at or above which a case is referred."""
        return float(self.metadata.get("referable_threshold", 0.5))

    @property
    def device_uid(self) -> str:
        """Device UID of this model version (PS3.3 C.17.3.2.1, Contributing Equipment)."""
        return str(derived_uid("fovea", "ai-model", self.name, self.version))


def _check_name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise RegistryError(f"{what} {value!r}: use lower-case letters, digits, '.', '_', '-'")
    return value


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _save_inference_copy(source: Path, target: Path) -> None:
    """Re-save a Keras model without its optimiser state (a third of the size)."""
    import keras

    keras.models.load_model(source, compile=False).save(target)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Registry:
    """Models under one root folder."""

    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)

    def register(self, name: str, version: str, keras_path: Path,
                 metadata: dict[str, Any]) -> ModelEntry:
        """Copy the Keras model in, export the served TFLite file, write metadata and card.

        ``metadata`` needs ``input_size``; the rest (metrics, training data,
        config) goes into the card as given. Raises RegistryError if the version exists.
        """
        from ai_node.model.runtime import TFLiteGrader, export_tflite

        target = self.root / _check_name(name, "model name") / _check_name(version, "version")
        if target.exists():
            raise RegistryError(f"{name} {version} is already registered")
        if "input_size" not in metadata:
            raise RegistryError("metadata needs input_size")
        staging = target.with_name(f".{version}.staging")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        _save_inference_copy(keras_path, staging / KERAS_FILE)
        export_tflite(staging / KERAS_FILE, staging / SERVED_FILE)
        earlier = {e.version: e.metadata.get("evaluations", {}) for e in self.versions(name)}
        facts = {**metadata, "name": name, "version": version,
                 "earlier_releases": {v: e for v, e in earlier.items() if e},
                 "registered": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                 "files": {f: _sha256(staging / f) for f in (KERAS_FILE, SERVED_FILE)},
                 "dme": TFLiteGrader(staging / SERVED_FILE).assesses_dme}
        entry = ModelEntry(name, version, target, facts)
        facts["device_uid"] = entry.device_uid
        (staging / METADATA_FILE).write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
        (staging / CARD_FILE).write_text(render_model_card(facts))
        os.replace(staging, target)
        return entry

    def get(self, name: str, version: str | None = None) -> ModelEntry:
        """A registered version, or the active one when ``version`` is None."""
        version = version or self.active_version(name)
        path = self.root / name / version
        if not (path / METADATA_FILE).is_file():
            raise RegistryError(f"{name} {version} is not registered")
        return ModelEntry(name, version, path, json.loads((path / METADATA_FILE).read_text()))

    def active(self, name: str) -> ModelEntry:
        """The version the AI node serves."""
        return self.get(name)

    def active_version(self, name: str) -> str:
        pointer = self.root / name / ACTIVE_FILE
        if not pointer.is_file():
            raise RegistryError(f"{name} has no active version")
        return pointer.read_text().strip()

    def versions(self, name: str) -> list[ModelEntry]:
        """Every registered version, oldest registration first."""
        folder = self.root / name
        paths = sorted(p for p in folder.glob("*/" + METADATA_FILE)) if folder.is_dir() else []
        entries = [self.get(name, p.parent.name) for p in paths]
        return sorted(entries, key=lambda e: str(e.metadata.get("registered", "")))

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) \
            if self.root.is_dir() else []

    def history(self, name: str) -> list[str]:
        path = self.root / name / HISTORY_FILE
        return list(json.loads(path.read_text())) if path.is_file() else []

    def promote(self, name: str, version: str) -> ModelEntry:
        """Make ``version`` active and record the promotion."""
        entry = self.get(name, version)
        history = self.history(name) + [version]
        _write_atomic(self.root / name / HISTORY_FILE, json.dumps(history) + "\n")
        _write_atomic(self.root / name / ACTIVE_FILE, version + "\n")
        return entry

    def record_evaluation(self, name: str, version: str, split: str,
                          result: dict[str, Any]) -> ModelEntry:
        """Add the metrics of ``python -m ai_node.evaluate`` on a named test split to the
        version's metadata and card (the model files are not touched)."""
        entry = self.get(name, version)
        facts = dict(entry.metadata)
        facts["evaluations"] = {**facts.get("evaluations", {}), split: result}
        return self._rewrite(entry, facts)

    def record_generalisation(self, name: str, version: str, source: str,
                              result: dict[str, Any]) -> ModelEntry:
        """Add a leave-one-source-out result (a grader trained without ``source``, scored on
        it) to the version's metadata and card."""
        entry = self.get(name, version)
        facts = dict(entry.metadata)
        facts["leave_one_source_out"] = {**facts.get("leave_one_source_out", {}),
                                         source: result}
        return self._rewrite(entry, facts)

    def _rewrite(self, entry: ModelEntry, facts: dict[str, Any]) -> ModelEntry:
        _write_atomic(entry.path / METADATA_FILE, json.dumps(facts, indent=2, sort_keys=True)
                      + "\n")
        _write_atomic(entry.path / CARD_FILE, render_model_card(facts))
        return self.get(entry.name, entry.version)

    def rollback(self, name: str) -> ModelEntry:
        """Re-activate the version active before the current one."""
        history = self.history(name)
        if len(history) < 2:
            raise RegistryError(f"{name} has no earlier active version to roll back to")
        previous = history[-2]
        _write_atomic(self.root / name / HISTORY_FILE, json.dumps(history[:-1]) + "\n")
        _write_atomic(self.root / name / ACTIVE_FILE, previous + "\n")
        return self.get(name, previous)


def _metadata_from_files(args: argparse.Namespace) -> dict[str, Any]:
    metadata: dict[str, Any] = json.loads(args.metadata.read_text()) if args.metadata else {}
    if args.training_config:
        metadata["training"] = json.loads(args.training_config.read_text())
    for item in args.evaluation or []:
        split, _, path = item.partition("=")
        metadata.setdefault("evaluations", {})[split] = json.loads(Path(path).read_text())
    if args.input_size:
        metadata["input_size"] = args.input_size
    if args.threshold is not None:
        metadata["referable_threshold"] = args.threshold
    return metadata


def _print_list(registry: Registry, names: list[str]) -> None:
    for name in names:
        try:
            active = registry.active_version(name)
        except RegistryError:
            active = None
        for entry in registry.versions(name):
            mark = "*" if entry.version == active else " "
            print(f"{mark} {name} {entry.version}  {entry.metadata.get('registered', '')}"
                  f"  {entry.device_uid}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="The DR model registry.")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    commands = parser.add_subparsers(dest="command", required=True)
    reg = commands.add_parser("register", help="add a trained Keras model as a new version")
    reg.add_argument("name")
    reg.add_argument("version")
    reg.add_argument("--keras", type=Path, required=True)
    reg.add_argument("--metadata", type=Path, help="JSON with card facts")
    reg.add_argument("--training-config", type=Path, help="the run's config.json")
    reg.add_argument("--evaluation", action="append", metavar="SPLIT=JSON")
    reg.add_argument("--input-size", type=int)
    reg.add_argument("--threshold", type=float, help="referable operating point")
    reg.add_argument("--promote", action="store_true")
    listing = commands.add_parser("list", help="versions; * marks the active one")
    listing.add_argument("name", nargs="?")
    promote = commands.add_parser("promote", help="make a version active")
    promote.add_argument("name")
    promote.add_argument("version")
    rollback = commands.add_parser("rollback", help="re-activate the previous version")
    rollback.add_argument("name")
    record = commands.add_parser("record-evaluation",
                                 help="add an evaluation JSON to a version's card")
    record.add_argument("name")
    record.add_argument("version")
    record.add_argument("evaluation", metavar="SPLIT=JSON")
    record.add_argument("--held-out-source", action="store_true",
                        help="the JSON scores a grader trained without SPLIT, a source "
                             "(leave one source out)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    registry = Registry(args.root)
    try:
        if args.command == "register":
            entry = registry.register(args.name, args.version, args.keras,
                                      _metadata_from_files(args))
            print(f"registered {entry.name} {entry.version} at {entry.path}")
            if args.promote:
                registry.promote(args.name, args.version)
                print(f"active: {args.name} {args.version}")
        elif args.command == "list":
            _print_list(registry, [args.name] if args.name else registry.names())
        elif args.command == "promote":
            entry = registry.promote(args.name, args.version)
            print(f"active: {entry.name} {entry.version}")
        elif args.command == "record-evaluation":
            split, _, path = args.evaluation.partition("=")
            record = registry.record_generalisation if args.held_out_source \
                else registry.record_evaluation
            record(args.name, args.version, split, json.loads(Path(path).read_text()))
            print(f"{args.name} {args.version}: evaluation on {split} recorded")
        else:
            entry = registry.rollback(args.name)
            print(f"active: {entry.name} {entry.version}")
    except RegistryError as exc:
        raise SystemExit(f"error: {exc}") from exc


if __name__ == "__main__":
    main()
