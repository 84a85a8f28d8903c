"""The AI node's results (IHE AI Results): the DR report and the heat map captures.

This is the interface the AI node calls; the objects are built in
:mod:`~imaging_common.builders.ai_report` (Comprehensive 3D SR, TID 1500) and
:mod:`~imaging_common.builders.heatmap_capture` (Secondary Capture), from the
inputs and UID rules of :mod:`~imaging_common.builders.ai_findings`.
"""

from imaging_common.builders.ai_findings import (
    RESEARCH_ONLY_NOTICE,
    AlgorithmIdentity,
    EyeFinding,
    ResultKind,
    capture_instance_uid,
    report_instance_uid,
    result_series_uid,
)
from imaging_common.builders.ai_report import build_dr_report
from imaging_common.builders.heatmap_capture import build_heatmap_capture

__all__ = [
    "RESEARCH_ONLY_NOTICE",
    "AlgorithmIdentity",
    "EyeFinding",
    "ResultKind",
    "build_dr_report",
    "build_heatmap_capture",
    "capture_instance_uid",
    "report_instance_uid",
    "result_series_uid",
]
