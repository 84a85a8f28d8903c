"""Commands for operators: ``flask --app emr db-upgrade | create-admin | seed-demo |
send-archive``."""

from __future__ import annotations

import os
import secrets

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from emr.accounts import create_user
from emr.archive_outbox import send_pending
from emr.database import database, session
from emr.exceptions import Conflict, ValidationError
from emr.migrate import upgrade
from emr.models import Role
from emr.seed import DEMO_ACCOUNTS, seed_demo
from emr.web import app_config

__all__ = ["register_commands"]


@click.command("db-upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Bring the database schema up to date (also done at start-up)."""
    upgrade(database(current_app).engine)
    click.echo("database schema up to date")


def _admin_password() -> str:
    from_env = os.environ.get("FOVEA_ADMIN_PASSWORD")
    if from_env:
        return from_env
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.command("create-admin")
@click.option("--username", prompt="User name", help="the administrator's user name")
@click.option("--full-name", prompt="Full name", default="Administrator", show_default=True)
@with_appcontext
def create_admin(username: str, full_name: str) -> None:
    """Create an administrator account (the password is asked for, or taken
    from FOVEA_ADMIN_PASSWORD; never from the command line)."""
    db = session()
    try:
        user = create_user(db, username, full_name, Role.ADMIN, _admin_password(),
                           app_config().password_hash_method)
        db.commit()
    except (ValidationError, Conflict) as exc:
        db.rollback()
        raise click.ClickException(str(exc)) from None
    click.echo(f"administrator {user.username} created")


@click.command("seed-demo")
@click.option("--patients", default=40, show_default=True, type=click.IntRange(1, 10000))
@click.option("--seed", default=0, show_default=True, help="random seed (same seed, same data)")
@with_appcontext
def seed_demo_command(patients: int, seed: int) -> None:
    """Create demo accounts, invented patients and orders in every state.

    The demo accounts' password comes from FOVEA_DEMO_PASSWORD, or is drawn at
    random and printed once. Refused in production.
    """
    config = app_config()
    if config.production:
        raise click.ClickException("demo data is not created in production mode")
    password = os.environ.get("FOVEA_DEMO_PASSWORD") or secrets.token_urlsafe(12)
    db = session()
    try:
        summary = seed_demo(db, patients=patients, password=password, stations=config.stations,
                            seed=seed, hash_method=config.password_hash_method)
        db.commit()
    except (ValidationError, Conflict) as exc:
        db.rollback()
        raise click.ClickException(str(exc)) from None
    click.echo(f"{summary.patients} patients, {summary.orders} orders, "
               f"{summary.results} AI results (synthetic)")
    if summary.accounts:
        click.echo(f"demo accounts {', '.join(summary.accounts)} with password: {password}")
    else:
        click.echo(f"demo accounts ({', '.join(a[0] for a in DEMO_ACCOUNTS)}) already existed")


@click.command("send-archive")
@with_appcontext
def send_archive() -> None:
    """Send to the PACS every object still owed to it (signed reports, printable
    reports); for a timer. Exits with status 1 while anything is left waiting."""
    summary = send_pending(session(), app_config())
    click.echo(f"{summary.sent} sent, {summary.failed} failed, {summary.waiting} waiting")
    if not summary.all_sent:
        raise SystemExit(1)


def register_commands(app: Flask) -> None:
    """Add the EMR's commands to ``app.cli``."""
    for command in (db_upgrade, create_admin, seed_demo_command, send_archive):
        app.cli.add_command(command)
