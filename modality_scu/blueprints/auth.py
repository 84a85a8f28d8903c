"""Signing on through the EMR and logging out; the home page is today's worklist."""

from __future__ import annotations

from imaging_common.web.sign_on import sign_on_blueprint, sign_on_client
from modality_scu.forms import CsrfForm
from modality_scu.security import record_operator

bp = sign_on_blueprint(sign_on_client, "worklist.index", CsrfForm, record_operator, root=True)
