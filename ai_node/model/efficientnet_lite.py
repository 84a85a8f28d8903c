"""EfficientNet-Lite0 in Keras.

EfficientNet (Tan and Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019, arXiv:1905.11946) in its Lite
variant (TensorFlow TPU repository, ``models/official/efficientnet/lite``):
no squeeze-and-excitation, ReLU6 instead of swish, stem (32) and head (1280)
left unscaled. Lite0 has width and depth coefficients 1.0 and 4.65 M parameters.

Convolutions use TensorFlow's ``same`` padding, as the original checkpoints
were trained with, and batch normalisation epsilon 1e-3. Layer names follow
the PyTorch state dict of the ImageNet checkpoint (``_blocks.N._bn1`` becomes
``block_N_bn1``) so :mod:`ai_node.model.convert` maps weights by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras import layers

STEM_FILTERS = 32
HEAD_FILTERS = 1280
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99


@dataclass(frozen=True)
class StageArgs:
    """One stage of MBConv blocks (MobileNetV2 inverted residuals, arXiv:1801.04381)."""

    repeats: int
    kernel_size: int
    stride: int
    expand_ratio: int
    input_filters: int
    output_filters: int


#: EfficientNet-Lite0 stages: ``r1_k3_s11_e1_i32_o16`` ... ``r1_k3_s11_e6_i192_o320``.
LITE0_STAGES: tuple[StageArgs, ...] = (
    StageArgs(1, 3, 1, 1, 32, 16),
    StageArgs(2, 3, 2, 6, 16, 24),
    StageArgs(2, 5, 2, 6, 24, 40),
    StageArgs(3, 3, 2, 6, 40, 80),
    StageArgs(3, 5, 1, 6, 80, 112),
    StageArgs(4, 5, 2, 6, 112, 192),
    StageArgs(1, 3, 1, 6, 192, 320),
)


def _bn(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def _mbconv(x: Any, args: StageArgs, index: int, drop_rate: float) -> Any:
    """One MBConv block: expand 1x1, depthwise kxk, project 1x1, residual when shapes allow."""
    prefix = f"block_{index}_"
    inputs = x
    filters = args.input_filters * args.expand_ratio
    if args.expand_ratio != 1:
        x = layers.Conv2D(filters, 1, padding="same", use_bias=False,
                          name=prefix + "expand_conv")(x)
        x = _bn(prefix + "bn0")(x)
        x = layers.ReLU(6.0, name=prefix + "expand_relu6")(x)
    x = layers.DepthwiseConv2D(args.kernel_size, strides=args.stride, padding="same",
                               use_bias=False, name=prefix + "depthwise_conv")(x)
    x = _bn(prefix + "bn1")(x)
    x = layers.ReLU(6.0, name=prefix + "depthwise_relu6")(x)
    x = layers.Conv2D(args.output_filters, 1, padding="same", use_bias=False,
                      name=prefix + "project_conv")(x)
    x = _bn(prefix + "bn2")(x)
    if args.stride == 1 and args.input_filters == args.output_filters:
        if drop_rate > 0:
            # Stochastic depth (drop connect): whole samples dropped, as in the reference.
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1),
                               name=prefix + "drop")(x)
        x = layers.Add(name=prefix + "add")([x, inputs])
    return x


def _expand_stages(stages: tuple[StageArgs, ...]) -> list[StageArgs]:
    """One entry per block: the first of a stage strides, the rest keep the size."""
    blocks = []
    for stage in stages:
        blocks.append(stage)
        for _ in range(stage.repeats - 1):
            blocks.append(StageArgs(1, stage.kernel_size, 1, stage.expand_ratio,
                                    stage.output_filters, stage.output_filters))
    return blocks


def build_backbone(inputs: Any, drop_connect_rate: float = 0.2) -> Any:
    """The convolutional trunk up to the 1280-channel head activation (before pooling)."""
    x = layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False,
                      name="stem_conv")(inputs)
    x = _bn("stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu6")(x)
    blocks = _expand_stages(LITE0_STAGES)
    for index, args in enumerate(blocks):
        x = _mbconv(x, args, index, drop_connect_rate * index / len(blocks))
    x = layers.Conv2D(HEAD_FILTERS, 1, padding="same", use_bias=False, name="head_conv")(x)
    x = _bn("head_bn")(x)
    return layers.ReLU(6.0, name="head_relu6")(x)


def build_efficientnet_lite0(
    input_size: int = 224,
    num_classes: int = 1000,
    dropout_rate: float = 0.2,
    drop_connect_rate: float = 0.2,
    name: str = "efficientnet_lite0",
) -> keras.Model:
    """EfficientNet-Lite0 classifier returning logits.

    The input is a float tensor ``(batch, input_size, input_size, 3)`` already
    normalised by :func:`ai_node.model.preprocessing.normalise` (RGB, (x - 127) / 128).
    The last convolutional activation is named ``head_relu6`` (for heat maps),
    the classifier ``logits``.
    """
    inputs = keras.Input((input_size, input_size, 3), name="image")
    features = build_backbone(inputs, drop_connect_rate)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(features)
    x = layers.Dropout(dropout_rate, name="top_dropout")(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)
