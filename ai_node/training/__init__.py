"""Training the DR grader: data sets and splits, pipeline, config, and the run.

``python -m ai_node.training.train`` (needs the ``ai`` extra);
:mod:`~ai_node.training.datasets` and :mod:`~ai_node.training.feedback` read
labels only and need no TensorFlow.
"""
