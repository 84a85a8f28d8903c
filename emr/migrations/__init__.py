"""Alembic migrations of the EMR's database; :mod:`emr.migrate` runs them."""
