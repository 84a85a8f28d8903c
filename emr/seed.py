"""Demo data: accounts for each role, patients, and orders in every state.

The patients are invented and the AI results synthetic (model
``fovea-demo-synthetic``, posted as an AI node posts them: one photograph per
eye, the referral decided at the model's threshold, macular oedema not
assessed); transitions are recorded as made by the service ``demo-seed``, so
nobody mistakes them for real traffic. Grades follow a screening population's
rough shape: most eyes without retinopathy, few severe.
"""

from __future__ import annotations

import base64
import io
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from emr.accounts import create_user
from emr.audit import Actor
from emr.exceptions import Conflict
from emr.models import Order, Patient, Role, User, utcnow
from emr.orders import OrderRequest, change_state, create_order
from emr.patients import PatientDetails, create_patient
from emr.results import parse_result, store_result
from emr.review import EyeReview, review_result
from emr.states import OrderState
from imaging_common.uids import new_uid

__all__ = ["DEMO_ACCOUNTS", "SeedSummary", "seed_demo"]

DEMO_ACCOUNTS = (
    ("nurse", "Nora Nurse", Role.NURSE),
    ("technician", "Theo Technician", Role.TECHNICIAN),
    ("ophthalmologist", "Olga Ophthalmologist", Role.OPHTHALMOLOGIST),
    ("admin", "Ada Admin", Role.ADMIN),
)
SEED_SERVICE = "demo-seed"
MODEL = {"name": "fovea-demo-synthetic", "version": "0.1.0"}

FAMILY = ("Martin", "Nguyen", "Okafor", "Garcia", "Kowalski", "Haddad", "Smith", "Tanaka",
          "Silva", "Müller", "O'Brien", "Dubois", "Rossi", "Andersson", "Kim", "Patel")
GIVEN_F = ("Amina", "Claire", "Mei", "Sofia", "Ewa", "Leila", "Grace", "Yuki", "Ana", "Ingrid")
GIVEN_M = ("Jean", "Minh", "Chidi", "Carlos", "Piotr", "Karim", "John", "Kenji", "Luca", "Sven")
#: Share of eyes per ICDR grade 0-4 and ungradable, roughly a screening population's.
GRADE_WEIGHTS = (0.70, 0.14, 0.08, 0.025, 0.015, 0.04)
#: The synthetic model's registered referral threshold, and the node's borderline margin.
DEMO_THRESHOLD, DEMO_MARGIN = 0.44, 0.05


@dataclass
class SeedSummary:
    """What :func:`seed_demo` created."""

    accounts: list[str]
    patients: int = 0
    orders: int = 0
    results: int = 0


def _accounts(db: Session, password: str, hash_method: str) -> tuple[list[str], dict[Role, User]]:
    created, users = [], {}
    for username, name, role in DEMO_ACCOUNTS:
        user = db.scalar(select(User).where(User.username == username))
        if user is None:
            user = create_user(db, username, name, role, password, hash_method)
            created.append(username)
        users[role] = user
    return created, users


def _patient(db: Session, rng: random.Random, index: int, nurse: Actor, today: date) -> Patient:
    sex = rng.choice("FM")
    details = PatientDetails(
        mrn=f"DEMO{index:05d}", family_name=rng.choice(FAMILY),
        given_name=rng.choice(GIVEN_F if sex == "F" else GIVEN_M),
        birth_date=today - timedelta(days=rng.randint(30 * 365, 85 * 365)), sex=sex)
    return create_patient(db, details, nurse, today)


def _heatmap(rng: random.Random) -> str:
    image = Image.new("RGB", (32, 32))
    cx, cy = rng.randint(8, 24), rng.randint(8, 24)
    image.putdata([(min(255, 255 - 12 * (abs(x - cx) + abs(y - cy))), 40, 60)
                   for y in range(32) for x in range(32)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _photograph(rng: random.Random) -> str:
    """A dark, blurred disc: the look of a photograph too poor to grade."""
    image = Image.new("RGB", (32, 32))
    level = rng.randint(10, 30)
    image.putdata([(level + 8, level, 0) if (x - 16) ** 2 + (y - 16) ** 2 < 196 else (0, 0, 0)
                   for y in range(32) for x in range(32)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _decision(rng: random.Random, grade: int) -> dict[str, object]:
    """What the synthetic model's AI node decides: probabilities, and referral at its
    threshold (as :func:`ai_node.model.serving.referral_decision` does; no oedema output)."""
    weights = [rng.random() * 0.2 for _ in range(5)]
    weights[grade] += 2.0 * rng.random() + 0.5
    total = sum(weights)
    probabilities = [w / total for w in weights]
    referable = sum(probabilities[2:])
    return {"grade": grade, "probabilities": probabilities,
            "referable": referable >= DEMO_THRESHOLD,
            "referable_probability": round(referable, 6),
            "borderline": abs(referable - DEMO_THRESHOLD) <= DEMO_MARGIN,
            "dme_probability": None, "maculopathy": None, "image_quality": "good"}


def _eye(rng: random.Random, laterality: str) -> dict[str, object]:
    choice = rng.choices(range(6), weights=GRADE_WEIGHTS)[0]
    uid = str(new_uid())
    capture = str(new_uid())
    scores = {"field": round(rng.uniform(0.7, 0.9), 4),
              "brightness": round(rng.uniform(40, 140), 1),
              "overexposed": 0.0, "underexposed": round(rng.uniform(0, 0.1), 4),
              "focus": round(rng.uniform(5, 30), 2)}
    if choice == 5:
        reasons = rng.choice((["focus"], ["under-illumination", "brightness"], ["field"]))
        scores["focus" if "focus" in reasons else "field"] = 0.4
        decided: dict[str, object] = {
            "grade": None, "probabilities": None, "referable": None, "image_quality": "ungradable",
            "quality_reasons": reasons}
        picture = {"photograph_png": _photograph(rng)}
    else:
        decided = _decision(rng, choice)
        picture = {"heatmap_png": _heatmap(rng)}
    image = {"sop_instance_uid": uid, "decisive": True, **decided, "quality": scores,
             "laterality_doubt": None, "sc_sop_instance_uid": capture, **picture}
    return {"laterality": laterality, **decided, "quality": scores,
            "referral_threshold": DEMO_THRESHOLD if choice != 5 else None,
            "borderline_margin": DEMO_MARGIN, "quality_score": None,
            "source_sop_instance_uids": [uid], "decisive_sop_instance_uid": uid,
            "sc_sop_instance_uid": capture, "images": [image]}


def _complete(db: Session, order: Order, rng: random.Random, at: datetime, reviewer: Actor,
              review: bool) -> None:
    """Walk a past order through acquisition and AI grading, then maybe review."""
    service = Actor(service=SEED_SERVICE)
    for step, state in enumerate((OrderState.IN_PROGRESS, OrderState.ACQUIRED,
                                  OrderState.AI_QUEUED, OrderState.AI_RUNNING)):
        change_state(db, order, state, service, now=at + timedelta(minutes=10 * step))
    eyes = [_eye(rng, eye) for eye in order.laterality.eyes]
    body = {"model": MODEL, "performed_at": (at + timedelta(minutes=45)).isoformat(),
            "sr_sop_instance_uid": str(new_uid()),
            "sc_sop_instance_uid": eyes[0]["sc_sop_instance_uid"], "eyes": eyes}
    result, _ = store_result(db, order, parse_result(body, 1 << 20), service)
    result.received_at = at + timedelta(minutes=50)
    if review:
        review_result(db, order, result, [EyeReview(e.laterality, "approve")
                                          for e in result.eyes], reviewer)


def seed_demo(db: Session, *, patients: int, password: str, stations: tuple[str, ...],
              seed: int = 0, hash_method: str = "scrypt") -> SeedSummary:
    """Create demo accounts (if missing), ``patients`` patients and their orders.

    Raises:
        Conflict: demo patients already exist (seed an empty database).
    """
    if db.scalar(select(Patient.id).where(Patient.mrn.startswith("DEMO"))) is not None:
        raise Conflict("demo patients already exist")
    rng = random.Random(seed)
    created, users = _accounts(db, password, hash_method)
    nurse = Actor(user=users[Role.NURSE])
    reviewer = Actor(user=users[Role.OPHTHALMOLOGIST])
    summary = SeedSummary(accounts=created)
    now = utcnow()
    for index in range(1, patients + 1):
        patient = _patient(db, rng, index, nurse, now.date())
        summary.patients += 1
        visits = rng.randint(1, 3)
        for visit in range(visits):
            past = visit < visits - 1 or rng.random() < 0.6
            created_at = (now - timedelta(days=365 * (visits - 1 - visit) + rng.randint(3, 60))
                          if past else now)
            request = OrderRequest(
                laterality=rng.choices(("both", "right", "left"), weights=(0.9, 0.05, 0.05))[0],
                priority=rng.choices(("ROUTINE", "HIGH"), weights=(0.9, 0.1))[0],
                station_ae=rng.choice(stations), reason="Diabetes, annual screening",
                scheduled_at=created_at + timedelta(hours=rng.randint(2, 72)))
            order = create_order(db, patient, request, nurse, stations, now=created_at)
            order.created_at = created_at
            summary.orders += 1
            if past:
                _complete(db, order, rng, request.scheduled_at or created_at, reviewer,
                          review=rng.random() < 0.7)
                summary.results += 1
    db.flush()
    return summary
