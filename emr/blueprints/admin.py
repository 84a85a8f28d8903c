"""Administration: the accounts of the EMR's users."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from emr.accounts import create_user, set_password
from emr.sign_on import credential_stamp, end_all
from emr.audit import record
from emr.database import session
from emr.exceptions import Conflict, ValidationError
from emr.forms import UserCreateForm, UserEditForm, show_errors
from emr.models import Role, User
from emr.security import current_actor, require
from emr.web import app_config

bp = Blueprint("admin", __name__, url_prefix="/admin")

Page = str | tuple[str, int] | Response


@bp.get("/users")
@require("users.manage")
def users() -> str:
    rows = session().scalars(select(User).order_by(User.role, User.username))
    return render_template("admin/users.html", users=list(rows))


@bp.route("/users/new", methods=["GET", "POST"])
@require("users.manage")
def new_user() -> Page:
    form = UserCreateForm()
    if form.validate_on_submit():
        db = session()
        try:
            user = create_user(db, form.username.data or "", form.full_name.data or "",
                               form.role.data or "", form.password.data or "",
                               app_config().password_hash_method)
            record(db, current_actor(), "user.create",
                   detail={"user": user.id, "role": user.role.value})
            db.commit()
            flash(f"Account {user.username} created.", "success")
            return redirect(url_for("admin.users"))
        except ValidationError as exc:
            show_errors(form, exc)
        except Conflict as exc:
            form.username.errors = [*form.username.errors, str(exc)]
        db.rollback()
    status = 422 if request.method == "POST" else 200
    return render_template("admin/user_form.html", form=form, user=None), status


def _lockout_error(user: User, form: UserEditForm) -> str | None:
    """Administrators may not lock themselves out."""
    if user.id != current_user.id:
        return None
    if not form.active.data or form.role.data != Role.ADMIN.value:
        return "You cannot deactivate your own account or give up your own admin role."
    return None


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@require("users.manage")
def edit_user(user_id: int) -> Page:
    db = session()
    user = db.get(User, user_id)
    if user is None:
        abort(404)
    form = UserEditForm(obj=user)
    if form.validate_on_submit():
        problem = _lockout_error(user, form)
        if problem:
            form.form_errors.append(problem)
        else:
            try:
                if form.password.data:
                    set_password(user, form.password.data, app_config().password_hash_method)
                stamp = credential_stamp(user)
                user.full_name = (form.full_name.data or "").strip()
                user.role = Role(form.role.data)
                user.active = bool(form.active.data)
                # A new password, role or deactivation ends the account's sessions on
                # the EMR and on every app it signed on to, at once.
                ended = end_all(db, user, "credentials changed") \
                    if credential_stamp(user) != stamp else 0
                record(db, current_actor(), "user.update",
                       detail={"user": user.id, "role": user.role.value, "active": user.active,
                               "password_changed": bool(form.password.data),
                               "sessions_ended": ended})
                db.commit()
                flash(f"Account {user.username} saved.", "success")
                return redirect(url_for("admin.users"))
            except ValidationError as exc:
                db.rollback()
                show_errors(form, exc)
    status = 422 if request.method == "POST" else 200
    return render_template("admin/user_form.html", form=form, user=user), status
