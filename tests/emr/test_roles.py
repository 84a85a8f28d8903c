"""Who may do what: every page route against every role (403 where a role may not act).

Permissions do not depend on the database, so this module runs on SQLite only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from emr.models import Role
from emr.security import PERMISSIONS

from .conftest import AuthActions, Seeded

#: Every page route: (method, URL pattern, permission). ``{p}``, ``{o}``, ``{r}`` and
#: ``{u}`` are a patient, an order, a result and a user id.
ROUTES = [
    ("GET", "/patients", "patients.view"),
    ("GET", "/patients/new", "patients.edit"),
    ("POST", "/patients/new", "patients.edit"),
    ("GET", "/patients/{p}", "patients.view"),
    ("GET", "/patients/{p}/edit", "patients.edit"),
    ("POST", "/patients/{p}/edit", "patients.edit"),
    ("GET", "/orders", "orders.view"),
    ("GET", "/patients/{p}/orders/new", "orders.create"),
    ("POST", "/patients/{p}/orders/new", "orders.create"),
    ("GET", "/orders/{o}", "orders.view"),
    ("POST", "/orders/{o}/discontinue", "orders.discontinue"),
    ("GET", "/orders/{o}/report", "reports.view"),
    ("POST", "/orders/{o}/review", "reports.review"),
    ("POST", "/orders/{o}/archive", "reports.review"),
    ("GET", "/orders/{o}/results/{r}/heatmap/R.png", "reports.view"),
    ("GET", "/orders/{o}/results/{r}/images/{i}.png", "reports.view"),
    ("GET", "/orders/{o}/photographs/1.2.3", "reports.view"),
    ("GET", "/orders/{o}/report.pdf", "reports.view"),
    ("GET", "/reviews", "reports.review"),
    ("GET", "/labels.csv", "labels.export"),
    ("GET", "/recall", "recall.view"),
    ("GET", "/recall.csv", "recall.view"),
    ("POST", "/orders/{o}/acknowledge-referral", "referrals.acknowledge"),
    ("GET", "/admin/users", "users.manage"),
    ("GET", "/admin/users/new", "users.manage"),
    ("POST", "/admin/users/new", "users.manage"),
    ("GET", "/admin/users/{u}", "users.manage"),
    ("POST", "/admin/users/{u}", "users.manage"),
    ("GET", "/audit", "audit.view"),
    ("GET", "/dashboard", "dashboard.view"),
]
OPEN_TO_ALL = {"/", "/login", "/logout", "/static/<path:filename>", "/fovea-static/<path:filename>",
               "/metrics",  # Prometheus scrapes it (tests/emr/test_metrics.py)
               # any logged-in role (each app says which roles it admits), and the
               # apps' server-to-server calls (tests/emr/test_sign_on.py)
               "/sign-on/authorize", "/sign-on/token", "/sign-on/session", "/sign-on/end"}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'emr.db'}"


def _pattern(url: str) -> str:
    return (url.replace("{p}", "<int:patient_id>").replace("{o}", "<int:order_id>")
            .replace("{r}", "<int:result_id>").replace("{u}", "<int:user_id>")
            .replace("{i}", "<int:image_id>")
            .replace("/R.png", "/<eye>.png")
            .replace("/photographs/1.2.3", "/photographs/<sop_instance_uid>"))


def test_the_table_covers_every_page_route(app: Flask) -> None:
    listed = {(method, _pattern(url)) for method, url, _ in ROUTES}
    served = {(method, rule.rule) for rule in app.url_map.iter_rules()
              for method in rule.methods or () if method in {"GET", "POST"}
              and not rule.rule.startswith("/api/") and rule.rule not in OPEN_TO_ALL}
    assert served == listed


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_each_role_gets_403_exactly_where_it_lacks_the_permission(
        app: Flask, auth: AuthActions, graded: Seeded, role: str) -> None:
    auth.login(role)
    ids = {"p": graded.patient_id, "o": graded.order_id, "r": 1, "u": 1, "i": 1}
    wrong = []
    for method, url, permission in ROUTES:
        response = auth.client.open(url.format(**ids), method=method,
                                    data={"csrf_token": auth.token})
        response.get_data()  # a streamed export runs to its end
        allowed = Role(role) in PERMISSIONS[permission]
        if (response.status_code == 403) == allowed or response.status_code in (400, 401, 500):
            wrong.append((method, url, response.status_code))
    assert wrong == []


def test_anonymous_users_are_sent_to_log_in(client: FlaskClient) -> None:
    for method, url, _ in ROUTES:
        if method != "GET":
            continue  # a POST without a session's CSRF token is refused before (test_auth)
        response = client.get(url.format(p=1, o=1, r=1, u=1, i=1))
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
