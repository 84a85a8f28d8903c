"""The page's forms (Flask-WTF: every POST form carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm

__all__ = ["CsrfForm"]


class CsrfForm(FlaskForm):
    """A form with no fields: a button that POSTs (Run, Run all, log out)."""
