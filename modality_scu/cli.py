"""Commands for operators: ``flask --app modality_scu create-user``."""

from __future__ import annotations

import os

import click
from flask import Flask
from flask.cli import with_appcontext

from modality_scu.accounts import AccountError, create_operator
from modality_scu.database import session
from modality_scu.web import station_config

__all__ = ["register_commands"]


def _password() -> str:
    from_env = os.environ.get("FOVEA_STATION_PASSWORD")
    if from_env:
        return from_env
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.command("create-user")
@click.option("--username", prompt="User name", help="the technician's user name")
@click.option("--full-name", prompt="Full name", help="as shown on the pages and in the MPPS")
@with_appcontext
def create_user(username: str, full_name: str) -> None:
    """Create a technician's account (the password is asked for, or taken from
    FOVEA_STATION_PASSWORD; never from the command line)."""
    db = session()
    try:
        operator = create_operator(db, username, full_name, _password(),
                                   station_config().password_hash_method)
        db.commit()
    except AccountError as exc:
        db.rollback()
        raise click.ClickException(str(exc)) from None
    click.echo(f"operator {operator.username} created")


def register_commands(app: Flask) -> None:
    """Add the station's commands to ``app.cli``."""
    app.cli.add_command(create_user)
