"""Modality Worklist C-FIND SCP and MPPS SCP, built from the EMR's prescriptions."""
