import pytest
import torch

from urlsom_core.augment import Augment, hsv_to_rgb, rgb_to_hsv


def _batch(n=16, c=3, s=32, seed=0):
    return torch.randint(0, 256, (n, c, s, s), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_shapes_range_and_dtype():
    x = _batch()
    aug = Augment(out_size=32, flip=True)
    out = aug(x, torch.Generator().manual_seed(0))
    assert out.shape == (16, 3, 32, 32) and out.dtype == torch.float32
    raw = aug.color(aug.crop_flip(x, torch.Generator().manual_seed(0)), torch.Generator().manual_seed(1))
    assert raw.min() >= 0 and raw.max() <= 1


def test_resizes_to_any_output_size_and_gray():
    x = _batch(c=1, s=8)
    out = Augment(out_size=16, flip=False)(x, torch.Generator().manual_seed(0))
    assert out.shape == (16, 1, 16, 16)


def test_per_sample_randomness_and_reproducibility():
    x = _batch(n=1).repeat(8, 1, 1, 1)  # the same image 8 times
    aug = Augment(out_size=32, flip=True)
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    distinct = {tuple(a[i].flatten()[:50].tolist()) for i in range(8)}
    assert len(distinct) == 8


def test_identity_when_everything_is_off():
    x = _batch()
    aug = Augment(out_size=32, flip=False, crop_min=1.0, jitter_p=0.0, gray_p=0.0)
    out = aug(x, torch.Generator().manual_seed(0))
    assert torch.allclose(out, aug.plain(x), atol=1e-5)


def test_flip_only_flips():
    x = _batch(n=64)
    aug = Augment(out_size=32, flip=True, crop_min=1.0, jitter_p=0.0, gray_p=0.0)
    out = aug.crop_flip(x, torch.Generator().manual_seed(0))
    ref = x.float() / 255
    same = [(torch.allclose(out[i], ref[i], atol=1e-5)) for i in range(64)]
    flipped = [(torch.allclose(out[i], ref[i].flip(-1), atol=1e-5)) for i in range(64)]
    assert all(s or f for s, f in zip(same, flipped, strict=False))
    assert 10 < sum(flipped) < 54  # p = 0.5
    no = Augment(out_size=32, flip=False, crop_min=1.0).crop_flip(x, torch.Generator().manual_seed(0))
    assert torch.allclose(no, ref, atol=1e-5)


def test_grayscale_probability():
    x = _batch(n=400)
    aug = Augment(out_size=32, flip=False, jitter_p=0.0, gray_p=0.5)
    out = aug.color(x.float() / 255, torch.Generator().manual_seed(0))
    gray = ((out[:, 0] - out[:, 1]).abs().amax(dim=(1, 2)) < 1e-6) & ((out[:, 1] - out[:, 2]).abs().amax(dim=(1, 2)) < 1e-6)
    assert 0.4 < gray.float().mean() < 0.6


def test_jitter_probability_and_crop_range():
    x = _batch(n=400)
    aug = Augment(out_size=32, flip=False, crop_min=1.0, jitter_p=0.8, gray_p=0.0)
    out = aug.color(x.float() / 255, torch.Generator().manual_seed(0))
    changed = (out - x.float() / 255).abs().amax(dim=(1, 2, 3)) > 1e-4
    assert 0.72 < changed.float().mean() < 0.88


def test_hsv_roundtrip():
    x = torch.rand(4, 3, 8, 8)
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-5)
    import colorsys

    r, g, b = 0.2, 0.7, 0.4
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    hsv = rgb_to_hsv(torch.tensor([r, g, b]).view(1, 3, 1, 1)).flatten().tolist()
    assert hsv == pytest.approx([h, s, v], abs=1e-6)


@pytest.mark.parametrize("crop_min", [22 / 32, 0.5])
def test_crop_sides_span_crop_min_to_full(crop_min):
    """Crop sides are whole pixels drawn uniformly from round(crop_min * S) .. S (the paper: 22..32 of 32)."""
    aug = Augment(out_size=32, flip=False, crop_min=crop_min)
    _, side, _, _ = aug._crop_params(4000, 32, torch.Generator().manual_seed(0), torch.device("cpu"), 4000, slice(0, 4000))
    pixels = torch.round(side * 32).long()
    assert set(pixels.tolist()) == set(range(round(crop_min * 32), 33))
