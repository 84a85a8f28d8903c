"""The electronic medical record: patients, prescriptions, reports and review, with a REST API.

- :func:`create_app`: the Flask application factory (``flask --app emr ...``).
- :class:`EmrConfig` and :func:`load_config`: the configuration, read once.
- :mod:`emr.states`: the order state machine.
- ``python -m emr`` (or ``fovea-emr``) serves the app.
"""

from emr.app import create_app
from emr.config import EmrConfig, ServiceToken, load_config

__all__ = ["EmrConfig", "ServiceToken", "create_app", "load_config"]
