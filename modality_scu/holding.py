"""Pictures held back until the technician has looked at their eyes; nothing is sent.

When the station's laterality check (:func:`modality_scu.photographs.laterality_doubts`)
finds a photograph that looks like the other eye, the pictures as the
technician gave them wait here, one set per examination, while the page asks
whether to send them as given, with some moved to the other eye, or to put
them aside. Keeping them saves a second upload. A set is a folder
``<holding>/<examination id>/`` with a ``manifest.json`` and one file per
upload; it goes once the examination's photographs are sent, the set is put
aside or replaced, or the examination is cancelled. Nothing here is sent
anywhere, and no image is built: the outbox only ever receives checked sets.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from imaging_common.builders import Laterality
from imaging_common.logs import get_logger

__all__ = ["SEND_AS_CHOSEN", "SWAP_EYES", "GivenPicture", "HeldSet", "HoldingArea", "decide"]

log = get_logger(__name__)

_MANIFEST = "manifest.json"
#: The technician's two ways on: each picture to the eye chosen for it (as given
#: by default), or every picture to the other eye than the one it was given for.
SEND_AS_CHOSEN, SWAP_EYES = "send", "swap"
_EYE_WORDS = {Laterality.RIGHT: "right", Laterality.LEFT: "left"}


@dataclass(frozen=True)
class GivenPicture:
    """One picture as given on the form: an uploaded file, or a simulated capture.

    Attributes:
        eye: the eye it was given for.
        name: the uploaded file's name (empty for a simulated capture).
        data: the file's content (empty for a simulated capture).
        grade: a simulated capture's ICDR severity; ``None`` for an upload.
        doubt: why the image looks like the other eye, if it does.
        note: what the technician decided about its eye, for its Image Comments
            (not kept in the holding area: made by :func:`decide`).
    """

    eye: Laterality
    name: str = ""
    data: bytes = b""
    grade: int | None = None
    doubt: str | None = None
    note: str = ""

    @property
    def simulated(self) -> bool:
        return self.grade is not None


@dataclass(frozen=True)
class HeldSet:
    """An examination's pictures waiting for the technician's decision.

    ``token`` names this set: a decision made on a page showing an earlier one
    is refused. ``taken_at`` (local time) and ``seed`` are those of the form.
    """

    token: str
    taken_at: datetime
    seed: int
    pictures: tuple[GivenPicture, ...]


class HoldingArea:
    """The folder of held sets, one per examination.

    Args:
        folder: where they live (created if needed).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, procedure_id: int) -> Path:
        return self.folder / str(int(procedure_id))

    def hold(self, procedure_id: int, pictures: list[GivenPicture], taken_at: datetime,
             seed: int) -> HeldSet:
        """Keep ``pictures`` for the examination, replacing a set held before."""
        held = HeldSet(secrets.token_urlsafe(12), taken_at, seed, tuple(pictures))
        staging = self.folder / f".{int(procedure_id)}.{held.token}"
        staging.mkdir()
        entries: list[dict[str, Any]] = []
        for number, picture in enumerate(pictures):
            file = f"picture-{number}.bin" if not picture.simulated else ""
            if file:
                (staging / file).write_bytes(picture.data)
            entries.append({"eye": picture.eye.value, "name": picture.name, "file": file,
                            "grade": picture.grade, "doubt": picture.doubt})
        manifest = {"token": held.token, "taken_at": taken_at.isoformat(), "seed": seed,
                    "pictures": entries}
        (staging / _MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
        self.discard(procedure_id)
        staging.rename(self._path(procedure_id))
        log.info("pictures held for a laterality check", procedure=procedure_id,
                 pictures=len(pictures), doubts=sum(p.doubt is not None for p in pictures))
        return held

    def get(self, procedure_id: int) -> HeldSet | None:
        """The set held for the examination, if any (an unreadable one is dropped)."""
        path = self._path(procedure_id)
        try:
            manifest = json.loads((path / _MANIFEST).read_text(encoding="utf-8"))
            pictures = tuple(
                GivenPicture(Laterality(entry["eye"]), str(entry["name"]),
                             (path / entry["file"]).read_bytes() if entry["file"] else b"",
                             entry["grade"], entry["doubt"])
                for entry in manifest["pictures"])
            return HeldSet(str(manifest["token"]), datetime.fromisoformat(manifest["taken_at"]),
                           int(manifest["seed"]), pictures)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("held pictures unreadable: dropped", procedure=procedure_id,
                        reason=str(exc))
            self.discard(procedure_id)
            return None

    def discard(self, procedure_id: int) -> None:
        """Forget the examination's held set (none is fine)."""
        shutil.rmtree(self._path(procedure_id), ignore_errors=True)


def _other(eye: Laterality) -> Laterality:
    return Laterality.LEFT if eye == Laterality.RIGHT else Laterality.RIGHT


def decide(held: HeldSet, choices: Mapping[str, str]) -> list[GivenPicture]:
    """The held pictures with the eyes the technician chose, each with a note.

    ``choices`` is the decision form: ``action`` (:data:`SEND_AS_CHOSEN` or
    :data:`SWAP_EYES`) and, for sending as chosen, ``eye-<n>`` (``R`` or ``L``)
    for the n-th picture (as given when absent). A picture the station doubted
    and that keeps its eye says so in its note; one moved says from where.

    Raises:
        ValueError: an unknown action or eye.
    """
    action = choices.get("action", SEND_AS_CHOSEN)
    if action not in (SEND_AS_CHOSEN, SWAP_EYES):
        raise ValueError(f"unknown decision {action!r}")
    decided = []
    for number, picture in enumerate(held.pictures):
        if action == SWAP_EYES:
            eye = _other(picture.eye)
        else:
            value = choices.get(f"eye-{number}", picture.eye.value)
            if value not in ("R", "L"):
                raise ValueError(f"choose the right (R) or the left (L) eye, not {value!r}")
            eye = Laterality(value)
        decided.append(replace(picture, eye=eye, note=_note(picture, eye)))
    return decided


def _note(picture: GivenPicture, eye: Laterality) -> str:
    if eye != picture.eye:
        note = (f"Laterality set by the technician: given as the {_EYE_WORDS[picture.eye]} "
                f"eye, sent as the {_EYE_WORDS[eye]} eye")
        return f"{note} after the station's check ({picture.doubt})." if picture.doubt \
            else f"{note}."
    if picture.doubt:
        return (f"Laterality kept by the technician after the station's check, which "
                f"found the photograph {picture.doubt}.")
    return ""
