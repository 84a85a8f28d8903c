"""The DR grader: EfficientNet-Lite0 with a five-class ICDR head.

Output: softmax probabilities over the International Clinical Diabetic
Retinopathy scale (Wilkinson et al., Ophthalmology 110(9), 2003): 0 no DR,
1 mild, 2 moderate, 3 severe non-proliferative, 4 proliferative DR.
Referable DR is grade 2 or worse; its probability is the sum over grades 2-4.

The served model (:func:`serving_model`) has a second output, the class
activation maps (Zhou et al., "Learning Deep Features for Discriminative
Localization", CVPR 2016): the classifier applied at every position of the
last convolutional features. Because the grader pools those features by a
plain average before its one dense layer, the average of each map is exactly
that grade's logit, so the heat map costs one 1x1 convolution and no gradients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # Keras only where a model is built: serving needs none of it
    import keras

NUM_GRADES = 5
REFERABLE_FROM = 2
OUTPUT_NAME = "probabilities"
MAPS_NAME = "activation_maps"
FEATURE_LAYER = "head_relu6"


def build_grader(input_size: int = 224, dropout_rate: float = 0.3,
                 drop_connect_rate: float = 0.2) -> keras.Model:
    """EfficientNet-Lite0 returning ICDR grade probabilities (untrained head)."""
    import keras

    from ai_node.model.efficientnet_lite import build_efficientnet_lite0

    base = build_efficientnet_lite0(input_size, NUM_GRADES, dropout_rate, drop_connect_rate,
                                    name="dr_grader_logits")
    probabilities = keras.layers.Softmax(name=OUTPUT_NAME)(base.output)
    return keras.Model(base.input, probabilities, name="dr_grader")


def serving_model(grader: keras.Model) -> keras.Model:
    """The grader with a second output: per-grade logit maps over the last features.

    Outputs ``probabilities (n, 5)`` and ``activation_maps (n, h, w, 5)``
    (7 x 7 at 224 px input); the weights are the grader's own.
    """
    import keras

    dense = grader.get_layer("logits")
    kernel, bias = dense.get_weights()
    maps_layer = keras.layers.Conv2D(NUM_GRADES, 1, name=MAPS_NAME)
    maps = maps_layer(grader.get_layer(FEATURE_LAYER).output)
    maps_layer.set_weights([kernel.reshape(1, 1, *kernel.shape), bias])
    return keras.Model(grader.input, [grader.output, maps], name="dr_grader_served")


def transfer_backbone(target: keras.Model, source: keras.Model) -> int:
    """Copy every same-named, same-shaped layer but the classifier; returns the count."""
    count = 0
    for layer in target.layers:
        if layer.name == "logits" or not layer.weights:
            continue
        weights = source.get_layer(layer.name).get_weights()
        layer.set_weights(weights)
        count += 1
    return count


def referable_probability(probabilities: np.ndarray) -> np.ndarray:
    """P(grade >= 2) from ``(n, 5)`` grade probabilities."""
    return np.asarray(probabilities)[:, REFERABLE_FROM:].sum(axis=1)
