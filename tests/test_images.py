"""Image loading: the study's crop/resize, conversions with notices, and one-line errors for bad files."""
import numpy as np
import pytest
import torch
from PIL import Image

from metazoo_core.errors import InputError
from metazoo_core.io.images import load_image, save_png
from metazoo_core.registry import InputSpec

RGB = InputSpec(shape=[3, 224, 224], range=(0, 1), colour="rgb")
GREY255 = InputSpec(shape=[1, 250, 250], range=(0, 255), colour="grey")


def test_centre_crop_and_resize_like_the_study(tmp_path):
    arr = np.zeros((300, 400, 3), np.uint8)
    arr[:, 50:350] = 200  # the centre 300×300 square is uniform 200
    Image.fromarray(arr).save(tmp_path / "a.png")
    item = load_image(tmp_path / "a.png", RGB)
    assert item.tensor.shape == (3, 224, 224) and item.notices == []
    assert torch.allclose(item.tensor, torch.full_like(item.tensor, 200 / 255), atol=1e-6)


def test_grey_and_rgba_converted_with_notice(tmp_path):
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(tmp_path / "g.png")
    item = load_image(tmp_path / "g.png", RGB)
    assert item.tensor.shape == (3, 224, 224) and any("greyscale" in n for n in item.notices)
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent → white
    Image.fromarray(rgba).save(tmp_path / "t.png")
    item = load_image(tmp_path / "t.png", RGB)
    assert any("RGBA" in n for n in item.notices) and torch.allclose(item.tensor, torch.ones_like(item.tensor))


def test_hmax_range_greyscale():
    item = load_image("builtin:chelsea", GREY255)
    assert item.tensor.shape == (1, 250, 250) and 0 <= item.tensor.min() and item.tensor.max() <= 255
    assert item.tensor.max() > 100


@pytest.mark.parametrize("content, match", [
    (b"this is not an image", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "corrupt|not an image"),
])
def test_bad_files_one_line(tmp_path, content, match):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(InputError, match=match) as e:
        load_image(path, RGB)
    assert "\n" not in str(e.value) and "x.png" in str(e.value)


def test_too_small_image(tmp_path):
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(tmp_path / "s.png")
    with pytest.raises(InputError, match="too small"):
        load_image(tmp_path / "s.png", RGB)


def test_nan_tensor_rejected(tmp_path):
    arr = np.full((3, 224, 224), 0.5, np.float32)
    arr[0, 0, 0] = np.nan
    np.save(tmp_path / "n.npy", arr)
    with pytest.raises(InputError, match="NaN"):
        load_image(tmp_path / "n.npy", RGB)


def test_png_roundtrip_is_the_study_truncation(tmp_path):
    x = torch.rand(3, 224, 224)
    save_png(x, tmp_path / "m.png", RGB)
    back = np.asarray(Image.open(tmp_path / "m.png"))
    assert np.array_equal(back, (x.numpy().transpose(1, 2, 0) * 255).astype(np.uint8))
