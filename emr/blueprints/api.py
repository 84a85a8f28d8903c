"""The REST API under ``/api/v1`` for the worklist, the AI node and other services.

Callers present a bearer token (RFC 6750) from the configuration; each token
has scopes (:data:`emr.config.SCOPES`). Errors are JSON:
``{"error": {"code": ..., "message": ..., "fields": {...}}}`` with the HTTP
status that fits. :mod:`emr.openapi` describes every route.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import Blueprint, Response, g, jsonify, request, url_for
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from emr.api_json import order_json, result_json, transition_json
from emr.audit import Actor, record
from emr.config import ServiceToken
from emr.database import session
from emr.exceptions import EmrError, Throttled, ValidationError
from emr.openapi import openapi_document
from emr.orders import OrderFilter, change_state, get_order, list_orders
from emr.results import parse_result, store_result
from emr.security import csrf
from emr.states import OrderState
from emr.web import app_config, page_arguments, parse_date
from imaging_common.logs import get_logger

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer tokens, no cookies: cross-site requests cannot ride a session
log = get_logger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
JsonReply = tuple[Response, int] | Response


class ApiError(EmrError):
    """An error raised at the API edge with its own status and code."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers or {}


def error_response(status: int, code: str, message: str,
                   fields: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> tuple[Response, int]:
    """The JSON body of an API error."""
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    response = jsonify(error=body)
    response.headers.update(headers or {})
    return response, status


def _challenge(error: str) -> dict[str, str]:
    return {"WWW-Authenticate": f'Bearer realm="fovea-emr", error="{error}"'}


def _service_token() -> ServiceToken:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <token>'",
                       {"WWW-Authenticate": 'Bearer realm="fovea-emr"'})
    for token in app_config().service_tokens:
        if hmac.compare_digest(token.token.encode(), presented.strip().encode()):
            return token
    raise ApiError(401, "invalid_token", "the token is not valid", _challenge("invalid_token"))


def scoped(scope: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate an API view: a valid token with ``scope`` is required (RFC 6750 3.1)."""
    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            token = _service_token()
            if scope not in token.scopes:
                raise ApiError(403, "insufficient_scope", f"this token lacks the scope {scope}",
                               _challenge("insufficient_scope"))
            g.service_token = token
            return view(*args, **kwargs)
        return guarded
    return decorate


def _actor() -> Actor:
    return Actor(service=g.service_token.service, remote_addr=request.remote_addr or "")


def _sees_patients() -> bool:
    return "patients:read" in g.service_token.scopes


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object "
                                           "(Content-Type: application/json)")
    return body


def _order_filter() -> OrderFilter:
    args = request.args
    states = [s for value in args.getlist("state") for s in value.split(",") if s]
    bad = [s for s in states if s not in {v.value for v in OrderState}]
    fields = {"state": f"unknown state(s): {', '.join(bad)}"} if bad else {}
    dates = {}
    for key in ("date", "date_from", "date_to"):
        dates[key] = parse_date(args.get(key))
        if args.get(key) and dates[key] is None:
            fields[key] = "a date as YYYY-MM-DD"
    if fields:
        raise ValidationError("the query is not valid", fields)
    return OrderFilter(
        states=tuple(OrderState(s) for s in states),
        scheduled_from=dates["date"] or dates["date_from"],
        scheduled_to=dates["date"] or dates["date_to"],
        station_ae=args.get("station", "").strip(),
        accession_number=args.get("accession_number", "").strip(),
        study_instance_uid=args.get("study_instance_uid", "").strip(),
        zone=app_config().zone)


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document(url_for("api.openapi", _external=False)))


@bp.get("/orders")
@scoped("orders:read")
def orders() -> Response:
    limit, offset = page_arguments(default_size=100)
    db = session()
    found = list_orders(db, _order_filter(), limit, offset)
    if _sees_patients() and found:
        record(db, _actor(), "order.list", detail={"results": len(found)})
        db.commit()
    return jsonify(orders=[order_json(o, _sees_patients(), app_config().zone) for o in found],
                   limit=limit, offset=offset)


@bp.get("/orders/<int:order_id>")
@scoped("orders:read")
def order(order_id: int) -> Response:
    db = session()
    found = get_order(db, order_id)
    record(db, _actor(), "order.view", patient_id=found.patient_id, order_id=found.id)
    db.commit()
    return jsonify(order_json(found, _sees_patients(), app_config().zone, detail=True))


@bp.post("/orders/<int:order_id>/transitions")
@scoped("orders:state")
def transition(order_id: int) -> JsonReply:
    body = _json_body()
    db = session()
    found = get_order(db, order_id)
    state, reason = body.get("state"), body.get("reason", "")
    if not isinstance(state, str) or not isinstance(reason, str):
        raise ValidationError("give the new state (and a reason) as strings",
                              {"state": "a state name", "reason": "a string"})
    made = change_state(db, found, state, _actor(), reason)
    db.commit()
    log.info("order state changed", order=found.id, state=found.state.value,
             service=g.service_token.service, changed=made is not None)
    reply = {"order": order_json(found, _sees_patients(), app_config().zone),
             "transition": transition_json(made) if made else None}
    return jsonify(reply), 201 if made else 200


@bp.post("/orders/<int:order_id>/results")
@scoped("results:write")
def post_result(order_id: int) -> JsonReply:
    parsed = parse_result(_json_body(), app_config().max_heatmap_bytes)
    db = session()
    try:
        stored, created = store_result(db, get_order(db, order_id), parsed, _actor())
        db.commit()
    except IntegrityError:  # the same result, posted twice at once: the other one won
        db.rollback()
        stored, created = store_result(db, get_order(db, order_id), parsed, _actor())
    log.info("AI result", order=order_id, result=stored.id, created=created,
             service=g.service_token.service)
    response = jsonify(result_json(stored, app_config().zone))
    response.headers["Location"] = url_for("api.results", order_id=order_id)
    return response, 201 if created else 200


@bp.get("/orders/<int:order_id>/results")
@scoped("orders:read")
def results(order_id: int) -> Response:
    found = get_order(session(), order_id)
    return jsonify(results=[result_json(r, app_config().zone) for r in found.results])


@bp.errorhandler(EmrError)
def domain_error(exc: EmrError) -> tuple[Response, int]:
    headers = dict(getattr(exc, "headers", {}))
    if isinstance(exc, Throttled):
        headers["Retry-After"] = str(exc.retry_after)
    fields = exc.fields if isinstance(exc, ValidationError) else None
    return error_response(exc.status, exc.code, str(exc), fields, headers)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> tuple[Response, int]:
    return http_error_response(exc)


def http_error_response(exc: HTTPException) -> tuple[Response, int]:
    """A werkzeug HTTP error (404, 405, 413, ...) as an API error."""
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_")
    headers = {k: v for k, v in exc.get_headers() if k == "Allow"}
    return error_response(status, code, exc.description or exc.name, headers=headers)
