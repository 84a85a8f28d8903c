"""The OpenAPI 3.1 description of the REST API, served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from emr.config import SCOPES
from emr.grading import ImageQuality
from emr.result_input import MAX_IMAGES, QUALITY_SCORES
from emr.states import TRANSITIONS, OrderState

__all__ = ["openapi_document"]

VERSION = "1.1.0"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref("Error")}}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "401": _error("no token, or a token that is not valid"),
    "403": _error("the token lacks the scope this operation needs"),
}
ORDER_ID = {"name": "order_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _operation(summary: str, scope: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "security": [{"serviceToken": [scope]}],
            "x-required-scope": scope, "responses": {**responses, **ERRORS}, **extra}


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description,
            "schema": schema or {"type": "string"}}


def _paths() -> dict[str, Any]:
    orders = _operation(
        "List orders by state, scheduled date and station", "orders:read",
        {"200": _ok("the orders, by scheduled time", {
            "type": "object", "properties": {"orders": {"type": "array", "items": _ref("Order")},
                                             "limit": {"type": "integer"},
                                             "offset": {"type": "integer"}}}),
         "422": _error("a query parameter is not valid")},
        parameters=[
            _query("state", "one or more states, repeated or comma-separated"),
            _query("date", "scheduled on this site date (YYYY-MM-DD)", type="string",
                   format="date"),
            _query("date_from", "scheduled on or after", type="string", format="date"),
            _query("date_to", "scheduled on or before", type="string", format="date"),
            _query("station", "Scheduled Station AE Title"),
            _query("accession_number", "Accession Number"),
            _query("study_instance_uid", "Study Instance UID"),
            _query("limit", "at most this many (1-500, default 100)", type="integer"),
            _query("offset", "skip this many", type="integer")])
    return {
        "/openapi.json": {"get": {"summary": "This description", "security": [],
                                  "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        "/orders": {"get": orders},
        "/orders/{order_id}": {"get": _operation(
            "Get an order with its transitions and results", "orders:read",
            {"200": _ok("the order", _ref("Order")), "404": _error("no such order")},
            parameters=[ORDER_ID])},
        "/orders/{order_id}/transitions": {"post": _operation(
            "Change an order's state (validated against the allowed transitions)",
            "orders:state",
            {"201": _ok("the state changed", _ref("TransitionReply")),
             "200": _ok("the order was already in that state", _ref("TransitionReply")),
             "400": _error("the body is not JSON"), "404": _error("no such order"),
             "409": _error("the transition is not allowed"),
             "422": _error("the state is unknown")},
            parameters=[ORDER_ID], requestBody={"required": True, "content": {
                "application/json": {"schema": _ref("TransitionRequest")}}})},
        "/orders/{order_id}/results": {
            "get": _operation("List an order's AI results", "orders:read",
                              {"200": _ok("the results, oldest first", {
                                  "type": "object", "properties": {
                                      "results": {"type": "array", "items": _ref("Result")}}}),
                               "404": _error("no such order")}, parameters=[ORDER_ID]),
            "post": _operation(
                "Post an AI result (idempotent per model name and version)", "results:write",
                {"201": _ok("stored; the order is now ai_done", _ref("Result")),
                 "200": _ok("the same result was already stored", _ref("Result")),
                 "400": _error("the body is not JSON"), "404": _error("no such order"),
                 "409": _error("the order is not ai_running, or this model version "
                               "already posted a different result"),
                 "413": _error("the body is too large"),
                 "422": _error("the result is not valid")},
                parameters=[ORDER_ID], requestBody={"required": True, "content": {
                    "application/json": {"schema": _ref("ResultInput")}}})},
    }


#: A DICOM UID (PS3.5 9.1): digits and dots, at most 64 characters.
_UID = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)*$", "maxLength": 64}


def _nullable(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}], "description": description}


_FRACTION = {"type": "number", "minimum": 0, "maximum": 1}
_QUALITY = {"type": "object", "description": (
    "the AI node's image quality scores: field (share of the frame the fundus fills), "
    "brightness (mean grey level 0-255), overexposed and underexposed (shares of the "
    "fundus), focus (variance of the Laplacian)"),
    "properties": {name: {"type": "number"} for name in QUALITY_SCORES},
    "additionalProperties": False}


def _assessment_properties() -> dict[str, Any]:
    """What an eye and a photograph share: grade, the AI node's decision, quality."""
    return {
        "grade": {"type": ["integer", "null"], "minimum": 0, "maximum": 4,
                  "description": "ICDR grade; null when ungradable"},
        "probabilities": _nullable(
            {"type": "array", "items": _FRACTION, "minItems": 5, "maxItems": 5},
            "one per ICDR grade, summing to 1; null when ungradable (not graded)"),
        "referable": {"type": ["boolean", "null"], "description": (
            "the AI node's referral decision, stored as given and never derived from the "
            "grade: the referable probability at or above the model's registered threshold; "
            "null (unknown) exactly when ungradable")},
        "referable_probability": _nullable(_FRACTION, (
            "P(referable): 1 - P(grade < 2) * (1 - P(DME)), or P(grade >= 2) for a model "
            "without an oedema output; required when gradable")),
        "borderline": {"type": ["boolean", "null"], "description": (
            "the referable probability lay within borderline_margin of the threshold; "
            "required when gradable")},
        "dme_probability": _nullable(_FRACTION, (
            "P(referable diabetic macular oedema); null when the model does not assess it")),
        "maculopathy": {"type": ["boolean", "null"], "description": (
            "the model's oedema finding, given with dme_probability; null: not assessed, "
            "never absent")},
        "image_quality": {"enum": [q.value for q in ImageQuality]},
        "quality": _nullable(_QUALITY, "the quality scores"),
        "quality_reasons": {"type": "array", "items": {"type": "string", "maxLength": 64},
                            "description": ("why it must be re-imaged (e.g. focus, field, "
                                            "under-illumination); required when ungradable")},
    }


def _image_schema(for_input: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "sop_instance_uid": _UID,
        "decisive": {"type": "boolean",
                     "description": "this photograph gives the eye its finding"},
        **_assessment_properties(),
        "laterality_doubt": _nullable({"type": "string", "maxLength": 1024}, (
            "why the photograph may show the other eye than its Image Laterality")),
        "simulated": {"type": "boolean", "default": False, "description": (
            "a simulated capture (a synthetic picture drawn in demo mode and marked so in "
            "DICOM), not a photograph of the patient: the report says so")},
        "sc_sop_instance_uid": _nullable(_UID, "this photograph's Secondary Capture"),
    }
    if for_input:
        properties["heatmap_png"] = {"type": "string", "contentEncoding": "base64",
                                     "contentMediaType": "image/png",
                                     "description": "the heat map over a gradable photograph"}
        properties["photograph_png"] = {"type": "string", "contentEncoding": "base64",
                                        "contentMediaType": "image/png",
                                        "description": "an ungradable photograph as it is"}
    else:
        properties["grade_label"] = {"type": "string"}
        properties["has_picture"] = {"type": "boolean"}
    return {"type": "object", "properties": properties,
            "required": ["sop_instance_uid", "decisive", "grade", "image_quality"]}


def _eye_schema(for_input: bool) -> dict[str, Any]:
    sc_uid = _nullable(_UID, (
        "SOP Instance UID of this eye's Secondary Capture (its deciding photograph's heat "
        "map), distinct per eye; optional, null on results posted without one"))
    properties: dict[str, Any] = {
        "laterality": {"enum": ["R", "L"], "description": "Image Laterality"},
        **_assessment_properties(),
        "referral_threshold": _nullable(_FRACTION, (
            "the model's registered threshold the decision was made against; required "
            "when gradable")),
        "borderline_margin": _nullable(_FRACTION, "the AI node's borderline margin"),
        "quality_score": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "source_sop_instance_uids": {"type": "array", "items": _UID, "minItems": 1},
        "decisive_sop_instance_uid": _nullable(_UID, "the photograph deciding the eye"),
        "sc_sop_instance_uid": sc_uid,
        "images": {"type": "array", "maxItems": MAX_IMAGES,
                   "items": _ref("ImageInput" if for_input else "Image"),
                   "description": ("every photograph graded, one per source SOP Instance "
                                   "UID, exactly one decisive")},
    }
    if for_input:
        properties["heatmap_png"] = {"type": "string", "contentEncoding": "base64",
                                     "contentMediaType": "image/png", "description": (
                                         "the eye's heat map; by default its deciding "
                                         "photograph's")}
    else:
        properties["grade_label"] = {"type": "string"}
        properties["has_heatmap"] = {"type": "boolean"}
    required = ["laterality", "grade", "image_quality", "source_sop_instance_uids"]
    return {"type": "object", "properties": properties, "required": required}


def _schemas() -> dict[str, Any]:
    states = [s.value for s in OrderState]
    uid = _UID
    result_sc_uid = dict(uid, description=(
        "SOP Instance UID of a Secondary Capture of this result; still required for "
        "compatibility. An AI node that writes one per eye sends each in "
        "eyes[].sc_sop_instance_uid and repeats one of them (e.g. the first eye's) here"))
    model = {"type": "object", "required": ["name", "version"],
             "properties": {"name": {"type": "string", "maxLength": 64},
                            "version": {"type": "string", "maxLength": 32}}}
    return {
        "Error": {"type": "object", "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                           "fields": {"type": "object",
                                      "additionalProperties": {"type": "string"}}}}}},
        "Patient": {"type": "object", "description": "only with the patients:read scope",
                    "properties": {"patient_id": {"type": "string"},
                                   "patient_name": {"type": "string", "description": "DICOM PN"},
                                   "birth_date": {"type": "string", "format": "date"},
                                   "sex": {"enum": ["M", "F", "O", ""]}}},
        "Transition": {"type": "object", "properties": {
            "from": {"enum": [*states, None]}, "to": {"enum": states},
            "at": {"type": "string", "format": "date-time"}, "by": {"type": "object"},
            "reason": {"type": "string"}}},
        "TransitionRequest": {
            "type": "object", "required": ["state"],
            "description": "allowed moves: " + "; ".join(
                f"{s.value} -> {', '.join(sorted(t.value for t in TRANSITIONS[s])) or '(final)'}"
                for s in OrderState),
            "properties": {"state": {"enum": states},
                           "reason": {"type": "string",
                                      "description": "required for discontinued and failed"}}},
        "TransitionReply": {"type": "object", "properties": {
            "order": _ref("Order"), "transition": {"oneOf": [_ref("Transition"),
                                                             {"type": "null"}]}}},
        "Order": {"type": "object", "properties": {
            "id": {"type": "integer"}, "accession_number": {"type": "string", "maxLength": 16},
            "requested_procedure_id": {"type": "string", "maxLength": 16},
            "scheduled_procedure_step_id": {"type": "string", "maxLength": 16},
            "study_instance_uid": uid, "requested_procedure_description": {"type": "string"},
            "state": {"enum": states}, "state_reason": {"type": "string"},
            "laterality": {"enum": ["both", "right", "left"]},
            "image_laterality": {"type": "array", "items": {"enum": ["R", "L"]}},
            "priority": {"enum": ["ROUTINE", "HIGH", "STAT"]}, "reason": {"type": "string"},
            "ordering_user_name": {"type": "string"},
            "scheduled_station_ae_title": {"type": "string", "maxLength": 16},
            "scheduled_at": {"type": "string", "format": "date-time"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "patient": _ref("Patient"),
            "transitions": {"type": "array", "items": _ref("Transition")},
            "results": {"type": "array", "items": _ref("Result")}}},
        "EyeInput": _eye_schema(for_input=True),
        "Eye": _eye_schema(for_input=False),
        "ImageInput": _image_schema(for_input=True),
        "Image": _image_schema(for_input=False),
        "ResultInput": {"type": "object", "required": [
            "model", "performed_at", "sr_sop_instance_uid", "sc_sop_instance_uid", "eyes"],
            "properties": {"model": model,
                           "performed_at": {"type": "string", "format": "date-time"},
                           "sr_sop_instance_uid": uid,
                           "sc_sop_instance_uid": result_sc_uid,
                           "eyes": {"type": "array", "items": _ref("EyeInput"),
                                    "minItems": 1, "maxItems": 2}}},
        "Result": {"type": "object", "properties": {
            "id": {"type": "integer"}, "order_id": {"type": "integer"}, "model": model,
            "performed_at": {"type": "string", "format": "date-time"},
            "received_at": {"type": "string", "format": "date-time"},
            "sr_sop_instance_uid": uid, "sc_sop_instance_uid": result_sc_uid,
            "service": {"type": "string"}, "eyes": {"type": "array", "items": _ref("Eye")}}},
    }


def openapi_document(self_url: str = "/api/v1/openapi.json") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the REST API."""
    scopes = "\n".join(f"- `{name}`: {text}" for name, text in SCOPES.items())
    return {
        "openapi": "3.1.0",
        "info": {"title": "Fovea EMR API", "version": VERSION, "description": (
            "Orders and AI results of the Fovea screening network, for its services. "
            "Research use only, not for clinical use.\n\nScopes:\n" + scopes),
            "x-self": self_url},
        "servers": [{"url": "/api/v1"}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"serviceToken": {
                "type": "http", "scheme": "bearer",
                "description": "a service token from the EMR's configuration"}},
        },
    }
