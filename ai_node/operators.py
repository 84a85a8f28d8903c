"""Who may use the AI node's page: a few operator accounts, like a modality's.

The nurses who press Run are the EMR's users, but the node has no access to
the EMR's accounts (and must not: no service imports another), so it keeps
its own short list in ``<data_dir>/ai/operators.json``: user name, full name,
a salted scrypt hash of the password (werkzeug), and whether the account is
active. The file is read again whenever it changes, so accounts added with
the command line work at once.

CLI: ``python -m ai_node.operators [--config FILE] [--data-dir DIR]
add|list|disable|enable USER``; ``add`` asks for the password twice, or reads
one line from standard input with ``--password-stdin``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from imaging_common.exceptions import ConfigError, FoveaError
from imaging_common.settings import load_settings, service_argument_parser

from ai_node.config import NODE_FOLDER, OPERATORS_FILE

__all__ = ["Operator", "OperatorError", "OperatorStore", "PASSWORD_MIN_LENGTH", "main"]

#: As the EMR asks (NIST SP 800-63B 5.1.1.2 favours length).
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


class OperatorError(FoveaError):
    """A user name, full name or password that the rules refuse, or an unknown account."""


@dataclass(frozen=True)
class Operator:
    """One account of the page; flask-login's user protocol included."""

    username: str
    full_name: str
    password_hash: str
    active: bool = True

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return self.username


class OperatorStore:
    """The accounts file.

    Args:
        path: the JSON file (created on the first ``add``).
        hash_method: werkzeug's password hashing method.
    """

    def __init__(self, path: Path, hash_method: str = "scrypt") -> None:
        self.path = path
        self.hash_method = hash_method
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._operators: dict[str, Operator] = {}
        self._dummy = ""

    def all(self) -> dict[str, Operator]:
        """Every account by user name, as the file holds them now."""
        with self._lock:
            try:
                changed = self.path.stat().st_mtime_ns
            except FileNotFoundError:
                return {}
            if changed != self._read_at:
                document = json.loads(self.path.read_text(encoding="utf-8"))
                self._operators = {o["username"]: Operator(**o)
                                   for o in document.get("operators", [])}
                self._read_at = changed
            return dict(self._operators)

    def get(self, username: str) -> Operator | None:
        """The active account ``username``, or ``None``."""
        found = self.all().get(username.strip().lower())
        return found if found is not None and found.active else None

    def authenticate(self, username: str, password: str) -> Operator | None:
        """The active account whose password this is, or ``None``.

        An unknown user name costs a hash check too, so the answer's time does
        not tell which user names exist.
        """
        found = self.get(username)
        if found is None:
            if not self._dummy:
                self._dummy = generate_password_hash("not a password", self.hash_method)
            check_password_hash(self._dummy, password)
            return None
        return found if check_password_hash(found.password_hash, password) else None

    def add(self, username: str, full_name: str, password: str) -> Operator:
        """Add an account.

        Raises:
            OperatorError: the user name is taken or malformed, or the password too weak.
        """
        username = username.strip().lower()
        if not _USERNAME.match(username):
            raise OperatorError("the user name must be 3-64 lower-case letters, digits, . _ -")
        if not full_name.strip() or len(full_name) > 64:
            raise OperatorError("the full name must have 1 to 64 characters")
        _check_password(password, username)
        operators = self.all()
        if username in operators:
            raise OperatorError(f"the user name {username!r} is taken")
        operator = Operator(username, full_name.strip(),
                            generate_password_hash(password, self.hash_method))
        self._write({**operators, username: operator})
        return operator

    def set_active(self, username: str, active: bool) -> Operator:
        """Enable or disable an account (kept in the file either way)."""
        operators = self.all()
        if username not in operators:
            raise OperatorError(f"no account {username!r}")
        operators[username] = replace(operators[username], active=active)
        self._write(operators)
        return operators[username]

    def _write(self, operators: dict[str, Operator]) -> None:
        """Replace the file atomically, readable by its owner only."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"operators": [asdict(o) for o in sorted(operators.values(),
                                                            key=lambda o: o.username)]}
        descriptor, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2)
                handle.write("\n")
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _check_password(password: str, username: str) -> None:
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise OperatorError(f"the password must have {PASSWORD_MIN_LENGTH} to "
                            f"{PASSWORD_MAX_LENGTH} characters")
    if username in password.lower():
        raise OperatorError("the password may not contain the user name")


def _parser() -> argparse.ArgumentParser:
    parser = service_argument_parser("Operator accounts of the Fovea AI node's page")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add an account")
    add.add_argument("username")
    add.add_argument("--full-name", required=True)
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    commands.add_parser("list", help="list the accounts")
    for verb in ("disable", "enable"):
        command = commands.add_parser(verb, help=f"{verb} an account")
        command.add_argument("username")
    return parser


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise OperatorError("the two passwords differ")
    return first


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    try:
        settings = load_settings("ai", argv, parser=_parser())
    except ConfigError as exc:
        print(f"ai_node.operators: {exc}", file=sys.stderr)
        return 2
    store = OperatorStore(Path(settings.data_dir) / NODE_FOLDER / OPERATORS_FILE)
    args = settings.extra
    try:
        if args["command"] == "add":
            operator = store.add(args["username"], args["full_name"],
                                 _read_password(bool(args["password_stdin"])))
            print(f"added {operator.username} ({operator.full_name}) to {store.path}")
        elif args["command"] == "list":
            for operator in store.all().values():
                state = "" if operator.active else "  (disabled)"
                print(f"{operator.username}  {operator.full_name}{state}")
        else:
            operator = store.set_active(args["username"], args["command"] == "enable")
            print(f"{operator.username}: {'enabled' if operator.active else 'disabled'}")
    except OperatorError as exc:
        print(f"ai_node.operators: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
