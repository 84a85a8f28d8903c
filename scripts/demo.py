"""Drive one screening through the running Fovea network, headless: ``make demo``.

Against the network that ``scripts/run_network.py --data-dir DIR`` started,
with its demo accounts and the secrets in ``DIR/secrets.env``:

1. EMR: the nurse registers a new patient and prescribes a screening of both
   eyes on station FUNDUS_CAM1, now;
2. station: the technician starts the order from today's worklist (MPPS
   N-CREATE), captures both eyes (simulated) and sends them; the PACS stores
   and commits them and the EMR order becomes *acquired*;
3. AI node: the nurse presses Run; the job finishes;
4. PACS: a C-FIND finds the AI's SR and secondary captures in the study;
5. EMR: the order carries the AI result (REST API, the AI node's token);
6. EMR: the ophthalmologist approves both eyes; the order becomes *reviewed*.

Each step prints its duration; any failure ends the run with exit status 1
and says which step failed and why. Only the standard library and Fovea's
own packages are used.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, TypeVar
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit
from urllib.request import HTTPCookieProcessor, Request, build_opener
from zoneinfo import ZoneInfo

from pydicom.dataset import Dataset
from pydicom.uid import SecondaryCaptureImageStorage
from pynetdicom import AE

from imaging_common.exceptions import FoveaError
from imaging_common.levels import Level
from imaging_common.query_scu import find
from imaging_common.settings import Network, Node, load_network

REPO = Path(__file__).resolve().parent.parent

#: Seconds any wait (worklist, delivery, grading, state) may take.
WAIT_TIMEOUT = 120.0
#: Seconds between two looks at something that is not there yet.
POLL_INTERVAL = 1.0
#: Seconds one HTTP request may take.
HTTP_TIMEOUT = 30.0
STATION_AE = "FUNDUS_CAM1"
#: The calling AE title of the C-FIND; the PACS accepts the viewer's.
QUERY_AE = "WEASIS_AE"
SIMULATED_SEVERITY = "2"
SR_MODALITY = "SR"

T = TypeVar("T")


class DemoError(Exception):
    """A step could not be done; the message says what was expected."""


# --- HTTP ---------------------------------------------------------------------------------

@dataclass
class Page:
    """What one request got back, after redirects."""

    url: str
    status: int
    text: str

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def error_messages(self) -> list[str]:
        """The error flashes and field errors the page shows (not the hidden ones)."""
        found = re.findall(r'class="(?:flash flash-error|error)"(?![^>]*hidden)[^>]*>'
                           r'(.*?)</(?:p|div)>', self.text, re.S)
        return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", f)).split()) for f in found]

    def errors(self) -> str:
        """The page's error messages as one line, or its status if it shows none."""
        return " ".join(self.error_messages()) or f"HTTP {self.status} at {self.path}"

    def csrf_token(self) -> str:
        tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', self.text)
        value = re.search(r'value="([^"]*)"', tag.group(0)) if tag else None
        if value is None:
            raise DemoError(f"{self.url} has no form with a CSRF token")
        return html.unescape(value.group(1))


@dataclass
class WebSession:
    """A browser's cookie jar on one web service: GET, POST a form, log in."""

    base_url: str
    jar: CookieJar = field(default_factory=CookieJar)

    def _open(self, request: Request) -> Page:
        opener = build_opener(HTTPCookieProcessor(self.jar))
        try:
            with opener.open(request, timeout=HTTP_TIMEOUT) as response:
                return Page(response.geturl(), response.status,
                            response.read().decode("utf-8", "replace"))
        except HTTPError as exc:  # 4xx pages still show what went wrong
            return Page(exc.geturl(), exc.code, exc.read().decode("utf-8", "replace"))
        except (URLError, OSError) as exc:
            raise DemoError(f"{self.base_url} did not answer ({exc}); is the network "
                            f"running (scripts/run_network.py)?") from None

    def get(self, path: str) -> Page:
        return self._open(Request(self.base_url + path))

    def post(self, path: str, fields: dict[str, str], token_from: Page) -> Page:
        """POST a form as a browser would, with the CSRF token of ``token_from``."""
        return self._post_to(self.base_url + path, fields, token_from)

    def _post_to(self, url: str, fields: dict[str, str], token_from: Page) -> Page:
        body = urlencode({"csrf_token": token_from.csrf_token(), **fields}).encode()
        return self._open(Request(url, data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Referer": token_from.url}))

    def login(self, username: str, password: str) -> Page:
        """Log in; the station and the AI page send the browser to the EMR's log-in page,
        which sends it back signed on."""
        form = self.get("/login")
        page = self._post_to(form.url, {"username": username, "password": password}, form)
        if page.path.endswith("/login") or page.status >= 400:
            raise DemoError(f"{self.base_url}: {username} could not log in: {page.errors()}")
        return page


def api_order(emr_url: str, token: str, order_id: int) -> dict[str, Any]:
    """The order as the EMR's REST API shows it to the AI node's token."""
    request = Request(f"{emr_url}/api/v1/orders/{order_id}",
                      headers={"Authorization": f"Bearer {token}"})
    try:
        with build_opener().open(request, timeout=HTTP_TIMEOUT) as response:
            body: dict[str, Any] = json.load(response)
            return body
    except HTTPError as exc:
        raise DemoError(f"the EMR API refused GET order {order_id}: HTTP {exc.code} "
                        f"{exc.read().decode('utf-8', 'replace')}") from None
    except (URLError, OSError) as exc:
        raise DemoError(f"the EMR API did not answer: {exc}") from None


def wait_for(what: str, check: Callable[[], T | None], timeout: float = WAIT_TIMEOUT) -> T:
    """Call ``check`` until it returns something; DemoError after ``timeout`` seconds."""
    stop_at = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > stop_at:
            raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_INTERVAL)


def one(pattern: str, page: Page, what: str) -> str:
    match = re.search(pattern, page.text, re.S)
    if match is None:
        raise DemoError(f"{page.url} does not show {what}")
    return html.unescape(match.group(1))


# --- the run ------------------------------------------------------------------------------

@dataclass
class Demo:
    """The network's addresses, the secrets, and what the steps learn on the way."""

    network: Network
    password: str
    ai_token: str
    zone: ZoneInfo
    order_id: int = 0
    accession_number: str = ""
    study_instance_uid: str = ""

    def url(self, name: str) -> str:
        node = self.network.node(name)
        return f"http://{node.host}:{node.http_port}"

    def order_state(self) -> str:
        return str(api_order(self.url("emr"), self.ai_token, self.order_id)["state"])

    def wait_for_state(self, wanted: str, passing: tuple[str, ...] = ()) -> str:
        """Wait until the EMR order is ``wanted`` (or already past it, in ``passing``)."""
        def reached() -> str | None:
            state = self.order_state()
            if state in ("failed", "discontinued"):
                reason = api_order(self.url("emr"), self.ai_token, self.order_id)
                raise DemoError(f"the EMR order went {state}: {reason.get('state_reason')}")
            return state if state == wanted or state in passing else None
        return wait_for(f"the EMR order {self.order_id} to be {wanted}", reached)


def prescribe(demo: Demo) -> str:
    """EMR, as the nurse: a new patient, and a screening of both eyes now."""
    emr = WebSession(demo.url("emr"))
    emr.login("nurse", demo.password)
    mrn = f"DEMO-{datetime.now():%Y%m%d%H%M%S}-{secrets.token_hex(2).upper()}"
    form = emr.get("/patients/new")
    page = emr.post("/patients/new", {
        "mrn": mrn, "family_name": "Demo", "given_name": "Dana", "birth_date": "1961-04-23",
        "sex": "F"}, form)
    patient = re.fullmatch(r"/patients/(\d+)", page.path)
    if patient is None:
        raise DemoError(f"the patient was not registered: {page.errors()}")
    path = f"/patients/{patient.group(1)}/orders/new"
    page = emr.post(path, {
        "laterality": "both", "priority": "ROUTINE", "station_ae": STATION_AE, "reason": "demo",
        "scheduled_at": f"{datetime.now(demo.zone):%Y-%m-%dT%H:%M}"}, emr.get(path))
    order = re.fullmatch(r"/orders/(\d+)", page.path)
    if order is None:
        raise DemoError(f"the screening was not prescribed: {page.errors()}")
    demo.order_id = int(order.group(1))
    demo.accession_number = one(r"<dt>Accession Number</dt><dd><code>(.*?)</code>", page,
                                "the accession number")
    demo.study_instance_uid = one(r"<dt>Study Instance UID</dt><dd><code>(.*?)</code>", page,
                                  "the Study Instance UID")
    return f"patient MRN {mrn}, order {demo.order_id}, accession {demo.accession_number}"


def _worklist_row(station: WebSession, accession_number: str) -> tuple[Page, str] | None:
    """Today's worklist page and the Start key of the row of ``accession_number``."""
    page = station.get("/worklist")
    for row in re.findall(r"<tr>(.*?)</tr>", page.text, re.S):
        if f"<code>{html.escape(accession_number)}</code>" in row:
            key = re.search(r'name="item" value="([^"]*)"', row)
            if key is None:
                raise DemoError(f"the worklist row of {accession_number} has no Start button")
            return page, html.unescape(key.group(1))
    return None


def _delivered(station: WebSession, exam_path: str) -> str | None:
    page = station.get(exam_path)
    if "state state-discontinued" in page.text.split("</h1>")[0]:
        raise DemoError(f"the examination was discontinued: {page.errors()}")
    committed = page.text.count('class="state state-committed"')
    if 'class="state state-completed"' in page.text.split("</h1>")[0]:
        return f"{committed} image(s) stored and committed, MPPS COMPLETED"
    return None


def acquire(demo: Demo) -> str:
    """Station, as the technician: start the order, capture both eyes, send."""
    station = WebSession(demo.url("station"))
    station.login("technician", demo.password)
    page, key = wait_for(f"accession {demo.accession_number} on today's worklist",
                         lambda: _worklist_row(station, demo.accession_number))
    page = station.post("/worklist/start", {"item": key}, page)
    exam = re.fullmatch(r"/examinations/(\d+)", page.path)
    if exam is None:
        raise DemoError(f"the examination was not started: {page.errors()}")
    exam_path = page.path
    seed = one(r'<input[^>]*name="seed"[^>]*value="(\d+)"', page, "the simulation seed")
    page = station.post(f"{exam_path}/photographs", {
        "right_simulate": "y", "right_grade": SIMULATED_SEVERITY,
        "left_simulate": "y", "left_grade": SIMULATED_SEVERITY, "seed": seed}, page)
    if page.path != exam_path or page.status != 200:
        raise DemoError(f"the photographs were not sent: {page.errors()}")
    delivered = wait_for("the PACS to store and commit the photographs",
                         lambda: _delivered(station, exam_path))
    demo.wait_for_state("acquired", passing=("ai_queued", "ai_running", "ai_done"))
    return f"{delivered}; EMR order acquired"


def _job_outcome(ai: WebSession, order_id: int) -> str | None:
    page = ai.get("/status.json")
    if page.status != 200:
        raise DemoError(f"the AI node's status.json answered HTTP {page.status}")
    status = json.loads(page.text)
    jobs = [j for j in status["jobs"] if j["order_id"] == order_id]
    if not jobs:
        return None
    job = jobs[0]  # newest first
    if job["stage"] == "failed":
        raise DemoError(f"the AI job {job['job_id']} failed: {job['error']}")
    return str(job["job_id"]) if job["stage"] == "done" else None


def grade(demo: Demo) -> str:
    """AI node, as the nurse: Run the order and wait for its job to finish."""
    ai = WebSession(demo.url("ai"))
    page = ai.login("nurse", demo.password)
    run_path = f"/orders/{demo.order_id}/run"
    if f'action="{run_path}"' not in page.text:
        raise DemoError(f"the AI node's page has no Run button for order {demo.order_id}")
    page = ai.post(run_path, {}, page)
    if page.error_messages():
        raise DemoError(f"the AI node did not queue order {demo.order_id}: {page.errors()}")
    job_id = wait_for(f"the AI job of order {demo.order_id} to finish",
                      lambda: _job_outcome(ai, demo.order_id))
    return f"job {job_id} done"


def _query(level: Level, **keys: str) -> Dataset:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = level.value
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    return identifier


def check_pacs(demo: Demo) -> str:
    """PACS: C-FIND the study's series and instances; the SR and the SCs are there."""
    ae = AE(ae_title=QUERY_AE)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = HTTP_TIMEOUT
    pacs: Node = demo.network.node("pacs")
    uid = demo.study_instance_uid
    counts = {"OP": 0, SR_MODALITY: 0, "SC": 0}
    try:
        series = find(ae, pacs, _query(Level.SERIES, StudyInstanceUID=uid,
                                       SeriesInstanceUID="", Modality=""))
        listed = [(s, find(ae, pacs, _query(
            Level.IMAGE, StudyInstanceUID=uid, SeriesInstanceUID=s.SeriesInstanceUID,
            SOPInstanceUID="", SOPClassUID=""))) for s in series]
    except FoveaError as exc:
        raise DemoError(f"the C-FIND as {QUERY_AE} failed: {exc}") from None
    for one_series, instances in listed:
        for instance in instances:
            if one_series.Modality in ("OP", SR_MODALITY):
                counts[str(one_series.Modality)] += 1
            if instance.get("SOPClassUID") == SecondaryCaptureImageStorage:
                counts["SC"] += 1
    found = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    if counts[SR_MODALITY] < 1 or counts["SC"] < 2:
        raise DemoError(f"the PACS study {uid} holds {found}; expected 1 SR and 2 SC")
    return f"{len(series)} series: {found}"


def check_report(demo: Demo) -> str:
    """EMR REST API: the order is AI done and carries the result of both eyes."""
    demo.wait_for_state("ai_done")
    order = api_order(demo.url("emr"), demo.ai_token, demo.order_id)
    if not order.get("results"):
        raise DemoError(f"the EMR order {demo.order_id} is ai_done but has no result")
    eyes = order["results"][-1]["eyes"]
    if sorted(e.get("laterality") for e in eyes) != ["L", "R"]:
        raise DemoError(f"the EMR result covers eyes {[e.get('laterality') for e in eyes]}")
    grades = ", ".join(f"{e['laterality']}: grade {e.get('grade')}" for e in eyes)
    return f"result {order['results'][-1]['id']} ({grades})"


def review(demo: Demo) -> str:
    """EMR, as the ophthalmologist: approve both eyes; the order is reviewed."""
    emr = WebSession(demo.url("emr"))
    emr.login("ophthalmologist", demo.password)
    path = f"/orders/{demo.order_id}/report"
    report = emr.get(path)
    if f'action="/orders/{demo.order_id}/review"' not in report.text:
        raise DemoError(f"the report of order {demo.order_id} offers no review form")
    fields = {f"{eye}_{name}": "" for eye in "RL" for name in ("grade", "maculopathy", "comment")}
    page = emr.post(f"/orders/{demo.order_id}/review",
                    {**fields, "R_decision": "approve", "L_decision": "approve"}, report)
    if page.path != path or "Review signed." not in page.text:
        raise DemoError(f"the review was not signed: {page.errors()}")
    return f"order {demo.order_id} {demo.wait_for_state('reviewed')}"


STEPS: tuple[tuple[str, Callable[[Demo], str]], ...] = (
    ("EMR: register a patient, prescribe a screening", prescribe),
    ("station: start, capture both eyes, send", acquire),
    ("AI node: run the grading", grade),
    ("PACS: C-FIND the SR and the secondary captures", check_pacs),
    ("EMR: the AI report is there", check_report),
    ("EMR: the ophthalmologist approves both eyes", review),
)


# --- entry point --------------------------------------------------------------------------

def read_secrets(path: Path) -> dict[str, str]:
    """The run's secrets file (``NAME=value`` lines); the environment wins, as for the run."""
    if not path.is_file():
        raise DemoError(f"{path} does not exist: start the network first "
                        f"(scripts/run_network.py --data-dir {path.parent})")
    values = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        if name and not name.startswith("#"):
            values[name.strip()] = value.strip()
    return {**values, **{k: v for k, v in os.environ.items() if k in values and v}}


def prepare(args: argparse.Namespace) -> Demo:
    found = read_secrets(args.data_dir / "secrets.env")
    network, _ = load_network(args.network)
    zone = os.environ.get("FOVEA_TIMEZONE") or load_emr_timezone(args.network)
    return Demo(network=network, password=found["FOVEA_DEMO_PASSWORD"],
                ai_token=found["FOVEA_EMR_TOKEN_AI"], zone=ZoneInfo(zone))


def load_emr_timezone(network_file: Path) -> str:
    """The site's time zone the EMR reads its appointments in (``[emr] timezone``)."""
    import tomllib

    return str(tomllib.loads(network_file.read_text()).get("emr", {}).get("timezone", "UTC"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("var"),
                        help="the running network's folder (its secrets.env)")
    parser.add_argument("--network", type=Path, default=REPO / "configs" / "network.toml",
                        help="the network file the services run with")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        demo = prepare(args)
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    for number, (title, step) in enumerate(STEPS, 1):
        print(f"[{number}/{len(STEPS)}] {title} ...", flush=True)
        begun = time.monotonic()
        try:
            outcome = step(demo)
        except DemoError as exc:
            print(f"      FAILED after {time.monotonic() - begun:.1f} s: {exc}", file=sys.stderr)
            return 1
        print(f"      ok in {time.monotonic() - begun:.1f} s: {outcome}", flush=True)
    print(f"demo passed in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
