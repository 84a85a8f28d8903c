"""The AI node: a DICOM peer that grades diabetic retinopathy in RQ jobs and reports back.

Processes:

- ``python -m ai_node``: the storage SCP (AE ``FOVEA_AI``) the PACS C-MOVEs
  photographs to, and the nurses' page (:mod:`ai_node.web`);
- ``python -m ai_node.worker``: a worker that loads the model once and grades
  queued orders (:mod:`ai_node.worker`), as many as wanted;

Modules, by what they are about:

- :mod:`~ai_node.config`: the node's configuration, read once.
- :mod:`~ai_node.scp` and :mod:`~ai_node.inbox`: receiving photographs.
- :mod:`~ai_node.retrieval`: C-FIND and C-MOVE of an order's study.
- :mod:`~ai_node.grading`: grading the photographs, one finding per eye.
- :mod:`~ai_node.reporting`: the SR, the Secondary Captures, the EMR result.
- :mod:`~ai_node.jobs`: the grading job, stage by stage (:mod:`~ai_node.stages`).
- :mod:`~ai_node.dispatch`: queueing orders and reading the queue back.
- :mod:`~ai_node.emr_api`: the EMR's REST API as the node uses it.
- :mod:`~ai_node.poller`: the optional automatic run.
- :mod:`~ai_node.exceptions`: the node's errors, and which ones a retry cures.
- :mod:`~ai_node.model`, :mod:`~ai_node.registry`, :mod:`~ai_node.training`:
  the model, its versions, and how it is trained.

Nothing is imported here: the page's process must not load the model's
runtime, which only :mod:`ai_node.grading` and the modules that import it
do.
"""
