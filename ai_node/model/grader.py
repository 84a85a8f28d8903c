"""The DR grader: EfficientNet-Lite0 with a five-class ICDR head and a DME head.

Outputs: softmax probabilities over the International Clinical Diabetic
Retinopathy scale (Wilkinson et al., Ophthalmology 110(9), 2003): 0 no DR,
1 mild, 2 moderate, 3 severe non-proliferative, 4 proliferative DR; and,
from dr-grader 2.0 on, the probability of referable diabetic macular oedema
(DME), a sigmoid on the same pooled features. Graders before 2.0 have the
first output only: for them DME is *not assessed*, never "absent".

Referable means moderate NPDR or worse, or referable DME.
:func:`referable_probability` is the one definition of its probability, used
by training, evaluation and the node alike::

    p_referable = 1 - P(grade < 2) * (1 - P(DME))

the probability that at least one of the two holds when the grade and the
oedema outputs are read as independent; without a DME output it is
``P(grade >= 2)``.

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
DME_NAME = "dme"
MAPS_NAME = "activation_maps"
FEATURE_LAYER = "head_relu6"


def build_grader(input_size: int = 224, dropout_rate: float = 0.3,
                 drop_connect_rate: float = 0.2, dme: bool = True) -> keras.Model:
    """EfficientNet-Lite0 returning ICDR grade probabilities and, with ``dme``, P(DME).

    The heads are untrained. With ``dme`` the model has two outputs, named
    ``probabilities (n, 5)`` and ``dme (n, 1)``.
    """
    import keras

    from ai_node.model.efficientnet_lite import build_efficientnet_lite0

    base = build_efficientnet_lite0(input_size, NUM_GRADES, dropout_rate, drop_connect_rate,
                                    name="dr_grader_logits")
    probabilities = keras.layers.Softmax(name=OUTPUT_NAME)(base.output)
    if not dme:
        return keras.Model(base.input, probabilities, name="dr_grader")
    pooled = base.get_layer("top_dropout").output
    oedema = keras.layers.Dense(1, activation="sigmoid", name=DME_NAME)(pooled)
    return keras.Model(base.input, {OUTPUT_NAME: probabilities, DME_NAME: oedema},
                       name="dr_grader")


def has_dme(grader: keras.Model) -> bool:
    """Whether the grader assesses macular oedema (has a ``dme`` output)."""
    return any(layer.name == DME_NAME for layer in grader.layers)


def serving_model(grader: keras.Model) -> keras.Model:
    """The grader with per-grade logit maps over the last features as an extra output.

    Outputs ``probabilities (n, 5)``, ``activation_maps (n, h, w, 5)`` (7 x 7
    at 224 px input) and, where the grader has one, ``dme (n, 1)``; the
    weights are the grader's own.
    """
    import keras

    dense = grader.get_layer("logits")
    kernel, bias = dense.get_weights()
    maps_layer = keras.layers.Conv2D(NUM_GRADES, 1, name=MAPS_NAME)
    maps = maps_layer(grader.get_layer(FEATURE_LAYER).output)
    maps_layer.set_weights([kernel.reshape(1, 1, *kernel.shape), bias])
    probabilities = grader.get_layer(OUTPUT_NAME).output
    outputs = [probabilities, maps]
    if has_dme(grader):
        outputs.append(grader.get_layer(DME_NAME).output)
    return keras.Model(grader.input, outputs, name="dr_grader_served")


def transfer_backbone(target: keras.Model, source: keras.Model) -> int:
    """Copy every same-named, same-shaped layer but the classifier; returns the count."""
    count = 0
    for layer in target.layers:
        if layer.name in ("logits", DME_NAME) or not layer.weights:
            continue
        weights = source.get_layer(layer.name).get_weights()
        layer.set_weights(weights)
        count += 1
    return count


def referable_dr_probability(probabilities: np.ndarray) -> np.ndarray:
    """P(grade >= 2) from ``(n, 5)`` grade probabilities."""
    return np.asarray(probabilities)[:, REFERABLE_FROM:].sum(axis=1)


def referable_probability(probabilities: np.ndarray,
                          dme: np.ndarray | None = None) -> np.ndarray:
    """The referable probability, ``1 - P(grade < 2) * (1 - P(DME))``, per image.

    ``probabilities`` is ``(n, 5)``; ``dme`` is ``(n,)`` or ``(n, 1)``, or
    None for a grader that does not assess oedema (then ``P(grade >= 2)``).
    """
    referable_dr = referable_dr_probability(probabilities)
    if dme is None:
        return referable_dr
    oedema = np.asarray(dme, dtype=float).reshape(-1)
    return 1.0 - (1.0 - referable_dr) * (1.0 - oedema)
