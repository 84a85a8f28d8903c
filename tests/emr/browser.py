"""What the EMR's browser tests share: the demo data they walk, and logging in as a role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import select

from emr.database import session
from emr.models import Order
from emr.seed import seed_demo
from emr.states import OrderState

from .conftest import FAST_HASH, PASSWORD


@dataclass(frozen=True)
class DemoData:
    """The demo orders the browser tests open."""

    #: An order the AI has graded and no ophthalmologist has reviewed yet.
    graded_order_id: int
    #: Its patient, and the patient page's heading (the display name).
    patient_id: int
    patient_heading: str
    #: An order still to be photographed, which may be discontinued.
    scheduled_order_id: int


def seed_demo_data(app: Flask) -> DemoData:
    """Twelve demo patients with their orders (``flask seed-demo``), the demo accounts
    logging in with :data:`PASSWORD`."""
    with app.app_context():
        db = session()
        seed_demo(db, patients=12, password=PASSWORD, stations=("FUNDUS_CAM1",), seed=3,
                  hash_method=FAST_HASH)
        db.commit()
        graded = db.scalars(select(Order).where(Order.state == OrderState.AI_DONE)
                            .order_by(Order.id)).first()
        scheduled = db.scalars(select(Order).where(Order.state == OrderState.SCHEDULED)
                               .order_by(Order.id)).first()
        assert graded is not None and scheduled is not None
        return DemoData(graded_order_id=graded.id, patient_id=graded.patient_id,
                        patient_heading=graded.patient.display_name,
                        scheduled_order_id=scheduled.id)


def log_in(p: Any, name: str) -> None:
    """Log in at the EMR's log-in page as the demo account ``name`` (its role's name)."""
    from playwright.sync_api import expect

    p.goto("/login")
    p.get_by_label("User name").fill(name)
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Log in").click()
    expect(p.get_by_role("button", name="Log out")).to_be_visible()
