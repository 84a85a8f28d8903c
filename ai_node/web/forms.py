"""The page's forms (Flask-WTF: every POST form carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

__all__ = ["CsrfForm", "LoginForm"]


class CsrfForm(FlaskForm):
    """A form with no fields: a button that POSTs (Run, Run all, log out)."""


class LoginForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
