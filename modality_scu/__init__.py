"""The retinal fundus imaging station: technicians' web form and DIMSE service class user.

A technician picks a patient from today's Modality Worklist, the station
reports the examination with MPPS, checks each photograph's eye against the
image (a doubt holds the set back for the technician to decide), turns the
photographs (uploaded, or in demo mode a simulated capture) into Ophthalmic
Photography images, and delivers them to the archive through a durable outbox
(C-STORE, then storage commitment), ending the MPPS once every image is
committed.

- :func:`create_app`: the Flask application factory (``flask --app modality_scu ...``).
- :class:`StationConfig` and :func:`load_config`: the configuration, read once.
- :class:`OutboxSender`: the store-and-forward sender.
- ``python -m modality_scu`` (or ``fovea-station``) serves the pages and runs the sender.
"""

from modality_scu.app import create_app
from modality_scu.config import StationConfig, load_config
from modality_scu.sender import OutboxSender

__all__ = ["OutboxSender", "StationConfig", "create_app", "load_config"]
