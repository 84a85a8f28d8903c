"""Fovea PACS: the archive of the network.

C-ECHO, C-STORE (kept as received), C-FIND and C-MOVE/C-GET on the Patient
Root and Study Root models, and Storage Commitment Push Model, over DIMSE only.
"""

from pacs_scp.server import build_ae, build_context, start_server

__all__ = ["build_ae", "build_context", "start_server"]
