"""The nurses' page: signing on through the EMR, the pending list from the EMR, Run and
Run all, status JSON."""

from __future__ import annotations

import html

import pytest
from redis import Redis

from ai_node.dispatch import Dispatcher
from ai_node.poller import AutoRun
from ai_node.web.pages import order_rows
from ai_node.web.summaries import ResultCache, report_url, result_summary
from tests.ai_node.node_peers import LiveEmr, Nurse

pytest_plugins = ["tests.ai_node.node_fixtures"]


def test_the_page_and_its_status_need_a_log_in(nurse: Nurse) -> None:
    page = nurse.client.get("/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    status = nurse.client.get("/status.json")
    assert status.status_code == 401 and status.json["error"]["code"] == "unauthorized"
    technician = nurse.login("tech")  # the EMR signs on nurses only to this page
    assert technician.status_code == 403 and "nurse" in technician.text
    assert nurse.client.get("/").status_code == 302
    assert nurse.login().status_code == 302
    assert "AI diabetic retinopathy screening" in nurse.client.get("/").text


def test_logout_ends_the_session_and_a_replayed_cookie_is_refused(nurse: Nurse) -> None:
    nurse.login()
    saved = nurse.client.get_cookie("fovea_ai_session")
    assert saved is not None
    response = nurse.post("/logout")
    assert "You are logged out" in response.text
    nurse.client.set_cookie("fovea_ai_session", saved.value)
    assert nurse.client.get("/").status_code == 302


def test_a_control_character_in_next_is_a_bad_request(nurse: Nurse) -> None:
    assert nurse.client.get("/login?next=/%0d%0aSet-Cookie:%20x=1").status_code == 400


def test_a_nurse_runs_an_order_from_the_pending_list(nurse: Nurse, live_emr: LiveEmr,
                                                     dispatcher: Dispatcher,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    acquired = live_emr.add_order("MRN-W-1")
    scheduled = live_emr.add_order("MRN-W-2", state="scheduled")
    nurse.login()
    page = nurse.refresh("/")
    accession = live_emr.order(acquired).accession_number
    assert accession in page and live_emr.order(scheduled).accession_number not in page
    assert f'action="/orders/{acquired}/run"' in page
    assert "Doe, Jane" in page and "MRN MRN-W-1" in page  # to the logged-in nurse

    forged = nurse.client.post(f"/orders/{acquired}/run")  # no CSRF token
    assert forged.status_code == 400 and dispatcher.queue.count == 0

    ran = nurse.post(f"/orders/{acquired}/run")
    assert f"Order {acquired} is queued for grading." in ran.text
    again = nurse.post(f"/orders/{acquired}/run")
    assert "queued or running already" in again.text
    assert dispatcher.queue.count == 1
    assert live_emr.order(acquired).state.value == "ai_queued"

    status = nurse.client.get("/status.json").json
    assert status["queue"]["length"] == 1 and status["queue"]["workers"] == []
    (row,) = [r for r in status["orders"] if r["order_id"] == acquired]
    assert row["state"] == "ai_queued" and row["action"] is None
    assert row["job"]["stage"] == "queued" and row["job"]["requested_by"] == "nina"
    assert [j["job_id"] for j in status["jobs"]] == [f"dr-{accession}"]

    refused = nurse.post(f"/orders/{scheduled}/run")
    assert f"order {scheduled} is 'scheduled'" in html.unescape(refused.text)
    assert dispatcher.queue.count == 1
    logged = capfd.readouterr()
    assert "Doe" not in logged.out + logged.err and "Jane" not in logged.out + logged.err


def test_run_all_queues_every_acquired_order(nurse: Nurse, live_emr: LiveEmr,
                                             dispatcher: Dispatcher, redis: Redis) -> None:
    orders = [live_emr.add_order(f"MRN-A-{i}") for i in range(3)]
    nurse.login()
    ran = nurse.post("/run-all")
    assert "3 order(s) queued for grading." in ran.text
    assert sorted(dispatcher.queue.job_ids) == sorted(
        f"dr-{live_emr.order(o).accession_number}" for o in orders)
    assert {live_emr.order(o).state.value for o in orders} == {"ai_queued"}
    assert "No order is waiting for grading." in nurse.post("/run-all").text


def test_the_page_says_when_the_emr_is_down(nurse: Nurse, live_emr: LiveEmr) -> None:
    nurse.login()
    live_emr.server.shutdown()
    status = nurse.client.get("/status.json").json
    assert status["orders"] == [] and "the EMR did not answer" in status["emr_error"]


def test_the_automatic_run_queues_what_reaches_acquired(live_emr: LiveEmr,
                                                        dispatcher: Dispatcher) -> None:
    acquired = live_emr.add_order("MRN-P-1")
    live_emr.add_order("MRN-P-2", state="in_progress")
    auto_run = AutoRun(dispatcher, seconds=60)
    assert auto_run.run_once() == 1
    assert auto_run.run_once() == 0  # queued already: not again
    assert dispatcher.queue.job_ids == [f"dr-{live_emr.order(acquired).accession_number}"]
    assert dispatcher.job(acquired).meta["requested_by"] == "auto-run"


def test_a_graded_order_shows_its_result_and_report_link() -> None:
    order = {"id": 7, "accession_number": "A7", "state": "ai_done",
             "patient": {"patient_name": "Doe^Jane", "patient_id": "MRN-7"}}
    job = {"accession_number": "A7", "order_id": 7, "stage": "done"}
    old = {**order, "id": 8, "accession_number": "A8"}  # graded, but by no recent job
    rows = order_rows([order, old], [job])
    assert [r["order_id"] for r in rows] == [7]
    assert rows[0]["patient_name"] == "Doe, Jane" and rows[0]["mrn"] == "MRN-7"
    assert rows[0]["action"] is None
    results = [{"eyes": [
        {"laterality": "R", "grade": 1, "grade_label": "Mild NPDR", "referable": False},
        {"laterality": "L", "grade": 3, "grade_label": "Severe NPDR", "referable": True}]}]
    assert result_summary(results) == {"grade": 3, "grade_label": "Severe NPDR",
                                       "laterality": "L", "referable": True}
    assert result_summary([{"eyes": [{"laterality": "R", "grade": None}]}]) is None
    calls: list[int] = []
    cache = ResultCache(size=1)
    for _ in range(2):
        cache.get(7, "A7", lambda order_id: calls.append(order_id) or results)
    assert calls == [7]  # asked once
    assert report_url("http://emr:5000/", 7) == "http://emr:5000/orders/7/report"
