"""MPPS rules without a network: what N-CREATE and N-SET must hold (PS3.4 F.7), which
order moves a step makes, and the durable step store."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from imaging_common.exceptions import DicomInputError
from imaging_common.status import MppsErrorId, NStatus
from imaging_common.uids import new_uid
from worklist.mpps import MppsError, discontinuation_reason, validate_create, validate_set
from worklist.procedure_steps import _moves
from worklist.step_store import StepStore

from .test_mpps import PATIENT_REFUSED, completion, creation, discontinuation
from .conftest import OrderIds

ORDER = OrderIds(1, "FVABC", "RPABC", str(new_uid()))


def test_a_complete_creation_passes() -> None:
    validate_create(creation(ORDER))


def test_a_final_step_may_not_be_updated() -> None:
    step = validate_set(creation(ORDER), completion())
    assert step.PerformedProcedureStepStatus == "COMPLETED"
    with pytest.raises(MppsError) as raised:
        validate_set(step, Dataset())
    assert raised.value.status == NStatus.PROCESSING_FAILURE
    assert raised.value.error_id == MppsErrorId.MAY_NO_LONGER_BE_UPDATED


def test_an_update_replaces_what_it_names_and_keeps_the_rest() -> None:
    current = creation(ORDER)
    changes = Dataset()
    changes.PerformedProcedureStepDescription = "Right eye only"
    updated = validate_set(current, changes)
    assert updated.PerformedProcedureStepDescription == "Right eye only"
    assert updated.PerformedProcedureStepID == current.PerformedProcedureStepID
    assert current.PerformedProcedureStepDescription == "Fundus photography"  # untouched


def test_referenced_images_need_their_uids() -> None:
    changes = completion()
    del changes.PerformedSeriesSequence[0].ReferencedImageSequence[1].ReferencedSOPInstanceUID
    with pytest.raises(MppsError, match="Referenced Image item lacks ReferencedSOPInstanceUID"):
        validate_set(creation(ORDER), changes)


def test_the_discontinuation_reason() -> None:
    step = validate_set(creation(ORDER), discontinuation())
    assert discontinuation_reason(step, "FUNDUS_CAM1") == (
        f"MPPS discontinued: {PATIENT_REFUSED.meaning}")
    del step.PerformedProcedureStepDiscontinuationReasonCodeSequence
    assert discontinuation_reason(step, "FUNDUS_CAM1") == "MPPS discontinued by FUNDUS_CAM1"


@pytest.mark.parametrize(("current", "target", "moves"), [
    ("scheduled", "in_progress", ("in_progress",)),
    ("in_progress", "in_progress", ()),
    ("scheduled", "acquired", ("in_progress", "acquired")),  # the N-CREATE never got there
    ("in_progress", "acquired", ("acquired",)),
    ("ai_queued", "acquired", None),  # moved on: left as it is
    ("discontinued", "in_progress", None),
    ("in_progress", "discontinued", ("discontinued",)),
    ("acquired", "discontinued", None),  # images were acquired: a later step keeps them
    ("discontinued", "discontinued", ()),
])
def test_order_moves(current: str, target: str, moves: tuple[str, ...] | None) -> None:
    assert _moves(current, target) == moves


def test_the_store_keeps_steps_across_instances(tmp_path: Path) -> None:
    uid = str(new_uid())
    StepStore(tmp_path / "mpps").put(uid, creation(ORDER))
    (tmp_path / "mpps" / "1.2.3.json.partial").write_text("{half")  # a crash mid-write
    store = StepStore(tmp_path / "mpps")
    step = store.get(uid)
    assert step is not None and step.PatientName == "Doe^Jane"
    assert store.get(str(new_uid())) is None
    assert sorted(p.name for p in (tmp_path / "mpps").iterdir()) == [f"{uid}.json"]
    assert len(store) == 1


@pytest.mark.parametrize("uid", ["../../etc/passwd", "1.2.3/4", "", "1." + "2" * 70])
def test_the_store_takes_only_uids(tmp_path: Path, uid: str) -> None:
    with pytest.raises(DicomInputError):
        StepStore(tmp_path).get(uid)
