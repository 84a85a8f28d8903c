"""The Alembic migrations build exactly the schema the models describe, on each database."""

from __future__ import annotations

from datetime import date, datetime, timezone

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, inspect, text

from emr.migrate import current_revision, downgrade, head_revision, upgrade
from emr.models import Base


def test_migrations_match_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        upgrade(engine)  # a second run has nothing to do
        assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {
            "alembic_version"}
    finally:
        engine.dispose()


def test_0002_adds_each_eyes_capture_to_a_0001_database_and_back(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        upgrade(engine, "0001")
        assert "sc_sop_instance_uid" not in _columns(engine, "eye_results")
        with engine.begin() as connection:
            _insert_result(connection)
        upgrade(engine, "0002")
        assert current_revision(engine) == "0002"
        assert "sc_sop_instance_uid" in _columns(engine, "eye_results")
        with engine.connect() as connection:
            assert connection.execute(text(
                "SELECT laterality, sc_sop_instance_uid FROM eye_results")).all() == [("R", None)]
        downgrade(engine, "0001")
        assert current_revision(engine) == "0001"
        assert "sc_sop_instance_uid" not in _columns(engine, "eye_results")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT laterality FROM eye_results")).all() == [
                ("R",)]
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_0003_makes_an_ungradable_eyes_referral_unknown_and_back(database_url: str) -> None:
    """0002 stored "not referable" and five 0.2s for an ungradable eye: 0003 makes them null,
    keeps the reviews that point at the eye, and adds the photographs' table."""
    engine = _engine(database_url)
    try:
        upgrade(engine, "0002")
        with engine.begin() as connection:
            _insert_result(connection)
            connection.execute(text(
                "INSERT INTO eye_results (id, result_id, laterality, grade, probabilities, "
                "referable, image_quality, source_sop_instance_uids, heatmap_media_type) "
                "VALUES (2, 1, 'L', NULL, '[0.2, 0.2, 0.2, 0.2, 0.2]', false, 'ungradable', "
                "'[\"1.2.7\"]', '')"))
            connection.execute(text(
                "INSERT INTO reviews (id, eye_result_id, reviewer_id, decision, grade, comment, "
                "created_at) VALUES (1, 2, 1, 'approve', NULL, '', :now)"),
                {"now": datetime(2026, 3, 2, tzinfo=timezone.utc)})
        upgrade(engine, "0003")
        assert current_revision(engine) == "0003"
        assert {"referable_probability", "referral_threshold", "dme_probability",
                "quality_scores", "decisive_sop_instance_uid"} <= _columns(engine, "eye_results")
        assert _eyes(engine) == [("L", None, None), ("R", False, "[1, 0, 0, 0, 0]")]
        with engine.connect() as connection:
            assert connection.execute(text("SELECT eye_result_id FROM reviews")).all() == [(2,)]
        downgrade(engine, "0002")
        assert "eye_images" not in inspect(engine).get_table_names()
        assert _eyes(engine) == [("L", False, "[0.2, 0.2, 0.2, 0.2, 0.2]"),
                                 ("R", False, "[1, 0, 0, 0, 0]")]
        upgrade(engine)
        _matches_the_models(engine)
    finally:
        engine.dispose()


def test_0004_marks_every_stored_photograph_not_simulated_and_back(database_url: str) -> None:
    """Photographs posted before 0004 said nothing of simulation: they read as not
    simulated, a new one may say it is, and the way down drops the column alone."""
    engine = _engine(database_url)
    try:
        upgrade(engine, "0003")
        with engine.begin() as connection:
            _insert_result(connection)
            _insert_photograph(connection, 1, "1.2.6")
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        _matches_the_models(engine)
        with engine.begin() as connection:
            _insert_photograph(connection, 2, "1.2.7", simulated=True)
        assert _photographs(engine) == [("1.2.6", False), ("1.2.7", True)]
        downgrade(engine, "0003")
        assert current_revision(engine) == "0003"
        assert "simulated" not in _columns(engine, "eye_images")
        with engine.connect() as connection:
            assert connection.execute(text(
                "SELECT sop_instance_uid FROM eye_images ORDER BY id")).all() == [
                    ("1.2.6",), ("1.2.7",)]
        upgrade(engine)
        assert _photographs(engine) == [("1.2.6", False), ("1.2.7", False)]
        _matches_the_models(engine)
    finally:
        engine.dispose()


def test_0005_adds_referral_acknowledgements_and_back(database_url: str) -> None:
    """Referrals stored before 0005 read as not acknowledged; the way down drops the
    acknowledgements alone."""
    engine = _engine(database_url)
    try:
        upgrade(engine, "0004")
        with engine.begin() as connection:
            _insert_result(connection)
        upgrade(engine, "0005")
        assert current_revision(engine) == "0005"
        assert _acknowledgements(engine) == []
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO referral_acknowledgements (id, result_id, user_id, at, note) "
                "VALUES (1, 1, 1, :now, 'booked')"),
                {"now": datetime(2026, 3, 2, tzinfo=timezone.utc)})
        assert _acknowledgements(engine) == [(1, "booked")]
        downgrade(engine, "0004")
        assert "referral_acknowledgements" not in inspect(engine).get_table_names()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT id FROM ai_results")).all() == [(1,)]
        upgrade(engine)
        _matches_the_models(engine)
        assert _acknowledgements(engine) == []
    finally:
        engine.dispose()


def test_0006_adds_the_archive_outbox_and_each_reviews_report_and_back(
        database_url: str) -> None:
    """Reviews signed before 0006 were never archived: they name no verified report and
    nothing is owed for them; the way down drops the outbox and the column alone."""
    engine = _engine(database_url)
    try:
        upgrade(engine, "0005")
        with engine.begin() as connection:
            _insert_result(connection)
            connection.execute(text(
                "INSERT INTO reviews (id, eye_result_id, reviewer_id, decision, grade, comment, "
                "created_at) VALUES (1, 1, 1, 'approve', 0, '', :now)"),
                {"now": datetime(2026, 3, 2, tzinfo=timezone.utc)})
        upgrade(engine, "0006")
        assert current_revision(engine) == "0006"
        with engine.connect() as connection:
            assert connection.execute(text(
                "SELECT id, sr_sop_instance_uid FROM reviews")).all() == [(1, None)]
            assert connection.execute(text("SELECT id FROM archive_outbox")).all() == []
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO archive_outbox (id, order_id, kind, sop_class_uid, "
                "sop_instance_uid, state, attempts, last_error, created_at, result_id) "
                "VALUES (1, 1, 'verified-sr', '1.2.840.10008.5.1.4.1.1.88.34', '1.2.9', "
                "'pending', 0, '', :now, 1)"), {"now": datetime(2026, 3, 2, tzinfo=timezone.utc)})
            connection.execute(text("UPDATE reviews SET sr_sop_instance_uid = '1.2.9'"))
        downgrade(engine, "0005")
        assert "archive_outbox" not in inspect(engine).get_table_names()
        assert "sr_sop_instance_uid" not in _columns(engine, "reviews")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT id, decision FROM reviews")).all() == [
                (1, "approve")]
        upgrade(engine)
        _matches_the_models(engine)
    finally:
        engine.dispose()


def _acknowledgements(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as connection:
        return [(int(r), str(n)) for r, n in connection.execute(text(
            "SELECT result_id, note FROM referral_acknowledgements ORDER BY id"))]


def _insert_photograph(connection: Connection, image_id: int, uid: str,
                       simulated: bool | None = None) -> None:
    """A photograph of eye result 1: the 0003 schema's columns, ``simulated`` where given."""
    columns = ("id, eye_result_id, sop_instance_uid, decisive, grade, image_quality, "
               "quality_reasons, laterality_doubt, picture_media_type")
    values = ":id, 1, :uid, true, 0, 'good', '[]', '', ''"
    if simulated is not None:
        columns, values = f"{columns}, simulated", f"{values}, :simulated"
    connection.execute(text(f"INSERT INTO eye_images ({columns}) VALUES ({values})"),
                       {"id": image_id, "uid": uid, "simulated": simulated})


def _photographs(engine: Engine) -> list[tuple[str, bool]]:
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT sop_instance_uid, simulated FROM eye_images ORDER BY id"))
        return [(uid, bool(simulated)) for uid, simulated in rows]


def _engine(database_url: str) -> Engine:
    """An engine as the EMR opens one: SQLite with its foreign keys enforced."""
    from imaging_common.web.database import open_engine

    return open_engine(database_url)


def _eyes(engine: Engine) -> list[tuple[str, bool | None, str | None]]:
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT laterality, referable, probabilities FROM eye_results ORDER BY laterality"))
        return [(side, None if referable is None else bool(referable),
                 None if found is None else str(found).replace("[1.0, 0.0", "[1, 0")
                 .replace(".0, 0", ", 0")) for side, referable, found in rows]


def _matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def _columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def _insert_result(connection: Connection) -> None:
    """One order with a one-eye result, written with the 0001 schema's columns."""
    now = datetime(2026, 3, 1, 10, 15, tzinfo=timezone.utc)
    connection.execute(text(
        "INSERT INTO users (id, username, full_name, password_hash, role, active, "
        "created_at) VALUES (1, 'n', 'N', 'x', 'nurse', true, :now)"),
        {"now": now})
    connection.execute(text(
        "INSERT INTO patients (id, mrn, family_name, given_name, middle_name, name_prefix, "
        "name_suffix, birth_date, sex, created_at, updated_at) "
        "VALUES (1, 'M1', 'F', 'G', '', '', '', :born, 'F', :now, :now)"),
        {"born": date(1960, 1, 1), "now": now})
    connection.execute(text(
        "INSERT INTO orders (id, patient_id, accession_number, requested_procedure_id, "
        "scheduled_procedure_step_id, study_instance_uid, state, state_reason, laterality, "
        "priority, reason, ordering_user_id, scheduled_station_ae, scheduled_at, created_at, "
        "updated_at) VALUES (1, 1, 'A1', 'RP1', 'SPS1', '1.2.3', 'ai_done', '', 'right', "
        "'ROUTINE', '', 1, 'CAM', :now, :now, :now)"), {"now": now})
    connection.execute(text(
        "INSERT INTO ai_results (id, order_id, model_name, model_version, sr_sop_instance_uid, "
        "sc_sop_instance_uid, content_digest, performed_at, received_at, service) "
        "VALUES (1, 1, 'm', '1', '1.2.4', '1.2.5', 'd', :now, :now, 'ai')"), {"now": now})
    connection.execute(text(
        "INSERT INTO eye_results (id, result_id, laterality, grade, probabilities, referable, "
        "image_quality, source_sop_instance_uids, heatmap_media_type) "
        "VALUES (1, 1, 'R', 0, '[1, 0, 0, 0, 0]', false, 'good', '[\"1.2.6\"]', '')"))
