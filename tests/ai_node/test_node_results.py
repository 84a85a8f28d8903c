"""One referral truth, end to end (issue 15): station -> PACS -> AI node -> EMR.

The station's photographs go to the PACS with DCMTK's storescu; the node's
worker grades them into the PACS and the EMR. Its model runtime is a stand-in
that gives every photograph fixed outputs (the registry entry, version and
threshold stay the shipped model's), so that the issue's probability vector
(0.29, 0.26, 0.21, 0.14, 0.10) reaches every reader: top grade "no DR",
referable probability 0.45 against the threshold 0.4403, referable and
borderline. The SR, each photograph's capture and the EMR must all say so; an
ungradable eye must read "re-image" with its reason and an unknown referral;
macular oedema that the model does not assess reads "not assessed"; a simulated
capture is said to be one by the SR, its capture and the report.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageFilter
from pydicom.dataset import Dataset
from pydicom.uid import OphthalmicPhotography8BitImageStorage, SecondaryCaptureImageStorage
from redis import Redis

from ai_node.config import AiConfig
from ai_node.dispatch import Dispatcher
from ai_node.inbox import Inbox
from ai_node.model.runtime import ModelOutputs
from ai_node.registry import Registry
from emr.models import Order
from imaging_common.builders.identity import Equipment
from imaging_common.builders.identity import Patient as DicomPatient
from imaging_common.builders.identity import Request
from imaging_common.builders.ophthalmic import (Laterality, OphthalmicImage,
                                                build_ophthalmic_photograph)
from imaging_common.simulation import is_simulated, mark_simulated
from imaging_common.uids import derived_uid, new_uid
from tests.ai_node.conftest import synthetic_fundus
from tests.ai_node.node_peers import (AI_TOKEN, PASSWORD, STATION_AE, LiveEmr, LivePacs,
                                      run_worker)
from tests.conftest import REPO, dcmtk, require_tool
from tests.screenshots import screenshot

pytest_plugins = ["tests.ai_node.node_fixtures"]

ISSUE_VECTOR = (0.29, 0.26, 0.21, 0.14, 0.10)
THRESHOLD = Registry(REPO / "models").active("dr-grader").operating_point


@dataclass
class FixedGrader:
    """A model runtime (:class:`ai_node.model.runtime.Grader`) with fixed outputs."""

    probabilities: tuple[float, ...]
    dme: float | None = None
    input_size: int = 64

    @property
    def assesses_dme(self) -> bool:
        return self.dme is not None

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.predict_outputs(images).probabilities

    def predict_with_maps(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outputs = self.predict_outputs(images)
        return outputs.probabilities, outputs.maps

    def predict_outputs(self, images: np.ndarray) -> ModelOutputs:
        count = len(images)
        maps = np.zeros((count, 7, 7, 5), np.float32)
        maps[:, 2:4, 3:5, 2:] = 1.0  # some heat, over grades 2-4
        return ModelOutputs(np.tile(np.array(self.probabilities, np.float32), (count, 1)),
                            maps, None if self.dme is None else np.full(count, self.dme))


def station_photographs(emr: LiveEmr, order_id: int,
                        pictures: list[tuple[str, np.ndarray]]) -> list[Dataset]:
    """Ophthalmic Photography images of the order's study, as the station makes them."""
    order = emr.order(order_id)
    request = Request(order.study_instance_uid, order.accession_number,
                      order.requested_procedure_id, order.scheduled_procedure_step_id,
                      "AI diabetic retinopathy screening")
    patient = DicomPatient(order.patient.mrn, "Doe^Jane", order.patient.birth_date, "F")
    series = new_uid()
    return [build_ophthalmic_photograph(OphthalmicImage(Laterality(eye), pixels=rgb), patient,
                                        request, Equipment(model_name="test fundus camera"),
                                        series, instance_number=number)
            for number, (eye, rgb) in enumerate(pictures, start=1)]


def simulate(photograph: Dataset, seed: int) -> Dataset:
    """Make a station photograph a simulated capture as the station does (demo mode): marked,
    in a series of its own."""
    photograph.SeriesInstanceUID = derived_uid(photograph.SeriesInstanceUID, "simulated capture")
    photograph.SeriesNumber = 2
    return mark_simulated(photograph, f"ICDR severity 0, seed {seed}")


def storescu(pacs: LivePacs, datasets: list[Dataset], folder: Path) -> None:
    """Send the photographs with DCMTK's storescu, as the station's AE."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, ds in enumerate(datasets):
        ds.save_as(folder / f"op{number}.dcm", enforce_file_format=True)
    dcmtk("storescu", "-aet", STATION_AE, "-aec", pacs.node.ae_title, "127.0.0.1",
          str(pacs.node.port), "-xe", "+sd", str(folder))


def blurred(seed: int) -> np.ndarray:
    """A photograph out of focus: the node's quality check fails it on focus."""
    return np.asarray(Image.fromarray(synthetic_fundus(256, seed))
                      .filter(ImageFilter.GaussianBlur(4)))


def dciodvfy_errors(path: Path) -> list[str]:
    report = subprocess.run([require_tool("dciodvfy"), "-new", str(path)],
                            capture_output=True, text=True)
    return [line for line in (report.stdout + report.stderr).splitlines()
            if line.startswith("Error")]


def results_in_pacs(pacs: LivePacs, study_uid: str) -> tuple[Dataset, list[Dataset]]:
    """The SR and the captures the node stored, each checked by dciodvfy."""
    report, captures = None, []
    for path in pacs.files(study_uid):
        ds = pydicom.dcmread(path)
        if ds.SOPClassUID == OphthalmicPhotography8BitImageStorage:
            continue
        assert dciodvfy_errors(path) == [], path.name
        if ds.SOPClassUID == SecondaryCaptureImageStorage:
            captures.append(ds)
        else:
            assert report is None
            report = ds
    assert report is not None
    return report, captures


def content(ds: Dataset) -> Iterator[Dataset]:
    for item in ds.get("ContentSequence", []):
        yield item
        yield from content(item)


def named(ds: Dataset, meaning: str) -> list[Dataset]:
    return [i for i in content(ds) if i.ConceptNameCodeSequence[0].CodeMeaning == meaning]


def said(group: Dataset, meaning: str) -> str | float | None:
    """What a group says under ``meaning``: a code's meaning, a number or a text."""
    items = named(group, meaning)
    if not items:
        return None
    (item,) = items
    if item.ValueType == "NUM":
        return float(item.MeasuredValueSequence[0].NumericValue)
    if item.ValueType == "TEXT":
        return str(item.TextValue)
    return str(item.ConceptCodeSequence[0].CodeMeaning)


@dataclass
class Graded:
    """An order graded through the network, and what it became."""

    order_id: int
    photographs: list[Dataset]
    report: Dataset
    captures: list[Dataset]
    order: Order


def grade_through_the_network(pacs: LivePacs, emr: LiveEmr, dispatcher: Dispatcher,
                              config: AiConfig, redis: Redis, folder: Path,
                              pictures: list[tuple[str, np.ndarray]],
                              grader: FixedGrader, simulated: Sequence[int] = ()) -> Graded:
    """Send ``pictures`` as the station would (those at the ``simulated`` indexes as
    simulated captures), grade them with the node's worker, read back what it made."""
    order_id = emr.add_order()
    photographs = station_photographs(emr, order_id, pictures)
    for index in simulated:
        simulate(photographs[index], seed=index)
    storescu(pacs, photographs, folder)
    assert dispatcher.enqueue(order_id, "nurse").created
    assert run_worker(config, redis, grader)
    job = dispatcher.job(order_id)
    assert job is not None and job.get_status() == "finished", job.latest_result()
    order = emr.order(order_id)
    report, captures = results_in_pacs(pacs, order.study_instance_uid)
    return Graded(order_id, photographs, report, captures, order)


@pytest.fixture
def issue_vector_order(live_pacs: LivePacs, live_emr: LiveEmr, storage_scp: Inbox,
                       ai_config: AiConfig, dispatcher: Dispatcher, redis: Redis,
                       tmp_path: Path) -> Graded:
    """Two right-eye photographs graded at the issue's vector; one blurred left-eye one."""
    return grade_through_the_network(
        live_pacs, live_emr, dispatcher, ai_config, redis, tmp_path / "station",
        [("R", synthetic_fundus(256, 1)), ("R", synthetic_fundus(256, 2)), ("L", blurred(3))],
        FixedGrader(ISSUE_VECTOR))


def test_the_sr_and_every_capture_carry_the_nodes_referral(issue_vector_order: Graded) -> None:
    graded = issue_vector_order
    right_uids = sorted(str(p.SOPInstanceUID) for p in graded.photographs[:2])
    left_uid = str(graded.photographs[2].SOPInstanceUID)
    groups = named(graded.report, "Measurement Group")
    assert [said(g, "Tracking Identifier") for g in groups] == [
        "Right eye", "Right eye, further photograph 1", "Left eye"]
    sources = [named(g, "Source of Measurement")[0].ReferencedSOPSequence[0]
               .ReferencedSOPInstanceUID for g in groups]
    assert sources == [*right_uids, left_uid]  # every photograph; equal ones: lowest UID decides
    for group in groups[:2]:  # each right-eye photograph with its own grade and decision
        assert said(group, "Diabetic retinopathy severity (ICDR)") == "No apparent retinopathy"
        assert said(group, "Referable diabetic retinopathy") == "Yes"
        assert said(group, "Referral decision borderline") == "Yes"
        assert said(group, "Probability of referable diabetic retinopathy") == \
            pytest.approx(0.45, abs=1e-5)
        assert said(group, "Referral threshold of the referable probability") == \
            pytest.approx(THRESHOLD)
        assert said(group, "Referable diabetic macular oedema") == "Not assessed"
    assert [said(g, "Photograph deciding the eye's finding") for g in groups] == [
        "Yes", "No", "Yes"]
    left = groups[2]
    assert said(left, "Referable diabetic retinopathy") is None  # unknown, never "no"
    assert said(left, "Image Quality") == "Unusable - Quality renders image unusable"
    assert said(left, "Reason for Repeating Acquisition") == "focus"
    assert [i for i in content(left) if i.ValueType == "NUM"] == []

    by_source = {c.SourceImageSequence[0].ReferencedSOPInstanceUID: c for c in graded.captures}
    assert set(by_source) == {*right_uids, left_uid}  # one capture per photograph
    for uid in right_uids:
        comments = by_source[uid].ImageComments
        assert "referable: YES (p = 0.45, threshold 0.44, borderline)" in comments
        assert "Macular oedema: not assessed by this model" in comments
    assert "Another photograph of this eye decides" in by_source[right_uids[1]].ImageComments
    assert "UNGRADABLE - re-image" in by_source[left_uid].ImageComments
    assert "Quality: focus" in by_source[left_uid].ImageComments


def test_the_emr_stores_the_same_decision_and_every_photograph(
        issue_vector_order: Graded) -> None:
    order = issue_vector_order.order
    assert order.state.value == "ai_done"
    (result,) = order.results
    right, left = result.eyes
    assert (right.grade, right.referable, right.borderline) == (0, True, True)
    assert right.referable_probability == pytest.approx(0.45, abs=1e-5)
    assert right.referral_threshold == pytest.approx(THRESHOLD)
    assert right.borderline_margin == 0.05
    assert right.probabilities == pytest.approx(list(ISSUE_VECTOR), abs=1e-6)
    assert (right.maculopathy, right.dme_probability) == (None, None)  # not assessed
    assert [(i.grade, i.referable, i.decisive) for i in right.images] == [
        (0, True, True), (0, True, False)]
    assert right.decisive_sop_instance_uid == right.images[0].sop_instance_uid
    assert set(right.quality_scores or {}) == {"field", "brightness", "overexposed",
                                               "underexposed", "focus"}
    assert (left.grade, left.referable, left.probabilities) == (None, None, None)
    assert left.quality_reasons == ["focus"] and (left.quality_scores or {})["focus"] < 3
    (photograph,) = left.images
    assert photograph.picture_media_type == "image/png"  # the photograph, shown
    finding = order.current_result and order.current_result.eyes[0].finding
    assert finding is not None and finding.referable


@contextmanager
def nurse_page(emr: LiveEmr) -> Iterator[Any]:
    """A page of a real headless Chromium, logged in to the EMR as the nurse."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium package is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=["--no-sandbox"])
        p = browser.new_page(base_url=emr.url)
        p.set_default_timeout(15000)
        p.goto("/login")
        p.get_by_label("User name").fill("nurse")
        p.get_by_label("Password").fill(PASSWORD)
        p.get_by_role("button", name="Log in").click()
        try:
            yield p
        finally:
            browser.close()


def test_the_report_page_shows_borderline_an_ungradable_eye_and_oedema_not_assessed(
        issue_vector_order: Graded, live_emr: LiveEmr) -> None:
    """A nurse reads the report in a real headless browser."""
    with nurse_page(live_emr) as p:
        from playwright.sync_api import expect  # there once nurse_page has not skipped

        p.goto(f"/orders/{issue_vector_order.order_id}/report")
        summary = p.get_by_role("region", name=re.compile("Result"))
        expect(summary.locator(".referable")).to_have_text("yes (borderline)")
        expect(summary).to_contain_text("Refer to an ophthalmologist within 3 months")
        expect(summary).to_contain_text("Left eye (OS): ungradable: re-image (reason: focus)")
        expect(summary).to_contain_text("within ±0.05 of the threshold")
        right = p.get_by_role("region", name="Right eye (OD)")
        expect(right.locator(".referral")).to_contain_text("0.45")
        expect(right.locator(".referral")).to_contain_text(f"against the threshold "
                                                           f"{THRESHOLD:.2f}")
        expect(right.locator(".borderline")).to_have_text("borderline")
        expect(right.locator(".maculopathy")).to_have_text(
            "not assessed by this model (not known to be absent)")
        expect(right.get_by_role("img", name=re.compile("Heat map"))).to_have_count(2)
        expect(right.get_by_text("(decides the eye)")).to_have_count(1)
        left = p.get_by_role("region", name="Left eye (OS)")
        expect(left.locator(".ungradable")).to_have_text("ungradable: re-image (reason: focus)")
        expect(left.locator(".referable")).to_have_text("unknown")
        expect(left.get_by_role("table")).to_have_count(0)  # no probabilities
        expect(left.get_by_role("img", name=re.compile("Ungradable photograph"))).to_have_count(1)
        picture = left.get_by_role("img", name=re.compile("Ungradable photograph"))
        assert picture.evaluate("img => img.complete && img.naturalWidth > 0")
        screenshot(p, "emr-19-report-decision")


def test_an_assessed_macular_oedema_reaches_every_reader(
        live_pacs: LivePacs, live_emr: LiveEmr, storage_scp: Inbox, ai_config: AiConfig,
        dispatcher: Dispatcher, redis: Redis, tmp_path: Path) -> None:
    """A grader with an oedema output (dr-grader 2.x): mild DR, P(DME) 0.7, referred."""
    graded = grade_through_the_network(
        live_pacs, live_emr, dispatcher, ai_config, redis, tmp_path / "station",
        [("R", synthetic_fundus(256, 1)), ("L", synthetic_fundus(256, 2))],
        FixedGrader((0.2, 0.6, 0.1, 0.05, 0.05), dme=0.7))
    for group in named(graded.report, "Measurement Group"):
        assert said(group, "Referable diabetic macular oedema") == "Yes"
        assert said(group, "Probability of referable diabetic macular oedema") == \
            pytest.approx(0.7, abs=1e-5)
        assert said(group, "Referable diabetic retinopathy") == "Yes"  # 1 - 0.8 * 0.3 = 0.76
    for capture in graded.captures:
        assert "Macular oedema: YES (p = 0.70)" in capture.ImageComments
    right, left = graded.order.results[0].eyes
    assert (right.maculopathy, right.dme_probability, right.referable) == (True, 0.7, True)
    assert right.referable_probability == pytest.approx(0.76, abs=1e-5)
    page = report_text(live_emr, graded.order_id)
    assert "Refer urgently to an ophthalmologist" in page
    assert "present (probability 0.70)" in page
    assert "not assessed" not in page.split("How the recommendation is made")[0]


def report_text(emr: LiveEmr, order_id: int) -> str:
    """The report page as the nurse gets it."""
    client = emr.app.test_client()
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None
    client.post("/login", data={"csrf_token": token.group(1), "username": "nurse",
                                "password": PASSWORD})
    return client.get(f"/orders/{order_id}/report").text


def test_a_swapped_pair_is_graded_as_labelled_and_doubted_in_the_sr_and_the_emr(
        live_pacs: LivePacs, live_emr: LiveEmr, storage_scp: Inbox, ai_config: AiConfig,
        dispatcher: Dispatcher, redis: Redis, tmp_path: Path) -> None:
    """A left-eye photograph sent in the right eye's slot (the station's drawing of each eye,
    optic disc nasal): the node records the doubt; the pair labelled right stays right."""
    from modality_scu.synthetic import synthetic_fundus as drawn_fundus

    def drawn(eye: str) -> np.ndarray:
        return np.asarray(drawn_fundus(seed=5, grade=0, laterality=eye, size=512))

    graded = grade_through_the_network(
        live_pacs, live_emr, dispatcher, ai_config, redis, tmp_path / "station",
        [("R", drawn("L")), ("L", drawn("L"))], FixedGrader((0.8, 0.1, 0.05, 0.03, 0.02)))
    right, left = named(graded.report, "Measurement Group")
    doubt = said(right, "Laterality doubt")
    assert isinstance(doubt, str) and "right eye" in doubt and "looks like a left eye" in doubt
    assert said(left, "Laterality doubt") is None
    assert said(right, "Referable diabetic retinopathy") == "No"  # graded as labelled
    by_laterality = {c.ImageLaterality: c for c in graded.captures}
    assert f"Laterality doubt: {doubt}"[:40] in by_laterality["R"].ImageComments
    assert "Laterality doubt" not in by_laterality["L"].ImageComments
    eyes = graded.order.results[0].eyes
    assert [e.laterality_doubts for e in eyes] == [[doubt], []]
    page = report_text(live_emr, graded.order_id)
    assert f"Right eye (OD): laterality doubt: {doubt}" in page
    assert "Check which eye the photograph shows" in page


SIMULATED_BADGE = "Simulated image — not a photograph of this patient"


def test_a_simulated_capture_is_said_to_be_one_in_the_sr_its_capture_and_the_emr(
        live_pacs: LivePacs, live_emr: LiveEmr, storage_scp: Inbox, ai_config: AiConfig,
        dispatcher: Dispatcher, redis: Redis, tmp_path: Path) -> None:
    """The right eye a simulated capture (the station's drawing, marked in DICOM, in a series
    of its own), the left eye a photograph: only the right eye's results say "simulated"."""
    from modality_scu.synthetic import synthetic_fundus as drawn_fundus

    drawn = np.asarray(drawn_fundus(seed=5, grade=0, laterality="R", size=512))
    graded = grade_through_the_network(
        live_pacs, live_emr, dispatcher, ai_config, redis, tmp_path / "station",
        [("R", drawn), ("L", synthetic_fundus(256, 2))],
        FixedGrader((0.8, 0.1, 0.05, 0.03, 0.02)), simulated=[0])
    right_uid, left_uid = (str(p.SOPInstanceUID) for p in graded.photographs)
    stored = {str(ds.SOPInstanceUID): ds for ds in map(
        pydicom.dcmread, live_pacs.files(graded.order.study_instance_uid))}
    assert is_simulated(stored[right_uid]) and not is_simulated(stored[left_uid])

    right, left = named(graded.report, "Measurement Group")  # dciodvfy: no error (above)
    assert said(right, "Simulated image") == "synthetic, not a photograph of the patient"
    assert said(left, "Simulated image") is None
    assert said(right, "Referable diabetic retinopathy") == "No"  # graded like any photograph
    by_source = {c.SourceImageSequence[0].ReferencedSOPInstanceUID: c for c in graded.captures}
    assert by_source[right_uid].ImageComments.startswith(
        "SIMULATED image: synthetic, not a photograph of the patient\nRight eye: ")
    assert "SIMULATED" not in by_source[left_uid].ImageComments.upper()

    api = live_emr.app.test_client().get(f"/api/v1/orders/{graded.order_id}/results",
                                         headers={"Authorization": f"Bearer {AI_TOKEN}"})
    assert api.status_code == 200, api.json
    (result,) = api.json["results"]
    assert [[(i["sop_instance_uid"], i["simulated"]) for i in eye["images"]]
            for eye in result["eyes"]] == [[(right_uid, True)], [(left_uid, False)]]
    assert [e.simulated_images != [] for e in graded.order.results[0].eyes] == [True, False]

    with nurse_page(live_emr) as p:
        from playwright.sync_api import expect

        p.goto(f"/orders/{graded.order_id}/report")
        banner = p.get_by_role("note", name="Simulated images")
        expect(banner).to_contain_text("Simulated images — not photographs of this patient.")
        expect(banner).to_contain_text("Right eye (OD): 1 of 1 photograph simulated.")
        expect(banner).not_to_contain_text("Left eye")
        assert banner.evaluate("b => b.compareDocumentPosition(document.querySelector("
                               "'.summary')) & Node.DOCUMENT_POSITION_FOLLOWING")  # on top
        right_eye = p.get_by_role("region", name="Right eye (OD)")
        expect(right_eye.get_by_text(SIMULATED_BADGE)).to_be_visible()
        expect(right_eye.get_by_role("img", name=re.compile(
            "simulated image, not a photograph of this patient"))).to_have_count(1)
        left_eye = p.get_by_role("region", name="Left eye (OS)")
        expect(left_eye.get_by_text(SIMULATED_BADGE)).to_have_count(0)
        screenshot(p, "emr-20-report-simulated")
