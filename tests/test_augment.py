import pytest
import torch
from augment_oracles import color, crop_flip, hsv_to_rgb, rgb_to_hsv

from urlsom_core.augment import Augment


def _batch(n=16, c=3, s=32, seed=0):
    return torch.randint(0, 256, (n, c, s, s), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_shapes_range_and_dtype():
    x = _batch()
    aug = Augment(out_size=32, flip=True)
    out = aug(x, torch.Generator().manual_seed(0))
    assert out.shape == (16, 3, 32, 32) and out.dtype == torch.float32
    raw = color(aug, crop_flip(aug, x, torch.Generator().manual_seed(0)), torch.Generator().manual_seed(1))
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
    out = crop_flip(aug, x, torch.Generator().manual_seed(0))
    ref = x.float() / 255
    same = [(torch.allclose(out[i], ref[i], atol=1e-5)) for i in range(64)]
    flipped = [(torch.allclose(out[i], ref[i].flip(-1), atol=1e-5)) for i in range(64)]
    assert all(s or f for s, f in zip(same, flipped, strict=False))
    assert 10 < sum(flipped) < 54  # p = 0.5
    no = crop_flip(Augment(out_size=32, flip=False, crop_min=1.0), x, torch.Generator().manual_seed(0))
    assert torch.allclose(no, ref, atol=1e-5)


def test_grayscale_probability():
    x = _batch(n=400)
    aug = Augment(out_size=32, flip=False, jitter_p=0.0, gray_p=0.5)
    out = color(aug, x.float() / 255, torch.Generator().manual_seed(0))
    gray = ((out[:, 0] - out[:, 1]).abs().amax(dim=(1, 2)) < 1e-6) & ((out[:, 1] - out[:, 2]).abs().amax(dim=(1, 2)) < 1e-6)
    assert 0.4 < gray.float().mean() < 0.6


def test_jitter_probability_and_crop_range():
    x = _batch(n=400)
    aug = Augment(out_size=32, flip=False, crop_min=1.0, jitter_p=0.8, gray_p=0.0)
    out = color(aug, x.float() / 255, torch.Generator().manual_seed(0))
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
    _, side, _, _, _ = aug._crop_params(4000, 32, torch.Generator().manual_seed(0), torch.device("cpu"), 4000, slice(0, 4000))
    pixels = torch.round(side * 32).long()
    assert set(pixels.tolist()) == set(range(round(crop_min * 32), 33))


# ---- the augmentation's distributions (paper Sec. V.A), with enough samples that a wrong value fails ----
N_DRAW = 4000  # binomial sd of a fraction near 0.5 is 0.008: the bands below are about 4 sd wide


def _cpu_params(aug: Augment, n: int = N_DRAW, seed: int = 0, channels: int = 3):
    g = torch.Generator().manual_seed(seed)
    crop = aug._crop_params(n, 32, g, torch.device("cpu"), n, slice(0, n))
    color = aug._color_params(n, channels, g, torch.device("cpu"), n, slice(0, n))
    return crop, color


def test_flip_probability_is_one_half():
    """A flip with p = 0.3 (or 0.7) falls outside the band."""
    (sx, side, _, _, _), _ = _cpu_params(Augment(out_size=32, flip=True))
    frac = float((sx < 0).float().mean())
    assert 0.47 < frac < 0.53, frac
    assert torch.equal(sx.abs(), side)


def _ramp_image(n: int) -> torch.Tensor:
    """Channel 0 holds 8 * column, channel 1 holds 8 * row: a pixel's value says where it came from."""
    col = (torch.arange(32) * 8).to(torch.uint8)
    img = torch.stack((col.view(1, 32).expand(32, 32), col.view(32, 1).expand(32, 32), torch.zeros(32, 32, dtype=torch.uint8)))
    return img.unsqueeze(0).repeat(n, 1, 1, 1)


def test_crop_positions_are_uniform_over_the_image_not_at_one_corner():
    """From the output itself: the first and last output columns (rows) sample input columns (rows) L0 and L1;
    their midpoint is the crop's centre, which must be uniform over the positions the crop side allows."""
    n = 2000
    aug = Augment(out_size=32, flip=False, crop_min=0.5)
    out = crop_flip(aug, _ramp_image(n), torch.Generator().manual_seed(0)) * 255 / 8  # input pixel coordinates
    for axis, ch in ((3, 0), (2, 1)):  # x from channel 0 along columns, y from channel 1 along rows
        line = out[:, ch].mean(dim=1 if axis == 3 else 2)  # (n, 32): coordinate of each output column / row
        first, last = line[:, 0], line[:, -1]
        side = (last - first) * 32 / 31  # crop side in input pixels (pixel centres span side * 31/32)
        centre = (first + last) / 2 + 0.5  # in [side/2, 32 - side/2]
        room = (32 - side) / 2
        keep = room > 2  # crops with room to move (clamped borders aside)
        u = ((centre - 16) / room)[keep]  # uniform in [-1, 1]
        assert keep.sum() > 1000
        assert abs(float(u.mean())) < 0.06, (axis, float(u.mean()))
        assert 0.2 < float((u < -0.5).float().mean()) < 0.3 and 0.2 < float((u > 0.5).float().mean()) < 0.3


def test_colour_jitter_ranges_and_probabilities():
    """Brightness, contrast, saturation factors in [0.6, 1.4] and hue shifts in [-0.4, 0.4], each covering its
    range, drawn for 80% of the images; grayscale for 50%."""
    _, p = _cpu_params(Augment(out_size=32, flip=False))
    on = p["bright"].flatten() != 1.0
    assert 0.77 < float(on.float().mean()) < 0.83
    for name, lo, hi in (("bright", 0.6, 1.4), ("contrast", 0.6, 1.4), ("sat", 0.6, 1.4), ("hue", -0.4, 0.4)):
        v = p[name].flatten()[on]
        assert float(v.min()) >= lo - 1e-6 and float(v.max()) <= hi + 1e-6, name
        assert float(v.min()) < lo + 0.01 and float(v.max()) > hi - 0.01, name  # the whole range is used
        assert abs(float(v.mean()) - (lo + hi) / 2) < 0.02, name
        off = p[name].flatten()[~on]
        assert torch.all(off == (0.0 if name == "hue" else 1.0)), name
    assert 0.47 < float(p["to_gray"].float().mean()) < 0.53


def test_hue_shift_equals_the_hsv_round_trip():
    """``color`` with hue jitter only equals RGB -> HSV, hue + drawn shift (mod 1), -> RGB (colorsys's HSV)."""
    from urlsom_core.augment import hue_shift

    x = torch.rand(64, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    shift = torch.linspace(-0.4, 0.4, 64).view(64, 1, 1, 1)
    hsv = rgb_to_hsv(x)
    ref = hsv_to_rgb(torch.cat(((hsv[:, :1] + shift) % 1.0, hsv[:, 1:]), 1))
    assert torch.allclose(hue_shift(x, shift), ref, atol=1e-5)
    assert (ref - x).abs().amax() > 0.3  # the shifts do change colours
    aug = Augment(out_size=8, flip=False, jitter=0.0, jitter_p=1.0, gray_p=0.0)  # hue only
    p = aug._color_params(64, 3, torch.Generator().manual_seed(5), torch.device("cpu"), 64, slice(0, 64))
    out = color(aug, x, torch.Generator().manual_seed(5))
    ref = hsv_to_rgb(torch.cat(((hsv[:, :1] + p["hue"]) % 1.0, hsv[:, 1:]), 1))
    assert torch.allclose(out, ref, atol=1e-5)
    assert float(p["hue"].abs().max()) > 0.35


def test_grayscale_uses_itu_r_601_weights():
    """Pure red, green and blue images become gray of 0.299, 0.587, 0.114 (not 1/3 each)."""
    x = torch.zeros(3, 3, 4, 4)
    for c in range(3):
        x[c, c] = 1.0
    out = color(Augment(out_size=4, flip=False, jitter_p=0.0, gray_p=1.0), x, torch.Generator().manual_seed(0))
    for c, w in enumerate((0.299, 0.587, 0.114)):
        assert torch.allclose(out[c], torch.full((3, 4, 4), w), atol=1e-6), c


def test_the_result_does_not_depend_on_the_thread_count():
    x = _batch(n=256)
    aug = Augment(out_size=32, flip=True)
    old = torch.get_num_threads()
    try:
        outs = []
        for k in (1, 2):
            torch.set_num_threads(k)
            outs.append(aug(x, torch.Generator().manual_seed(4)))
    finally:
        torch.set_num_threads(old)
    assert torch.equal(outs[0], outs[1])


def test_rotate_zero_draws_nothing_extra_so_the_paper_pipeline_is_unchanged():
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    a = Augment(out_size=32)(x, torch.Generator().manual_seed(3))
    b = Augment(out_size=32, rotate=0.0)(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_a_quarter_turn_of_the_grid_is_rot90():
    """On a square grid a 90-degree turn maps pixel centres to pixel centres: the crop grid turns the image
    exactly as torch.rot90 (a positive angle turns the displayed image counter-clockwise)."""
    import math

    import torch.nn.functional as F

    x = torch.rand(1, 1, 8, 8)
    one, zero = torch.ones(1), torch.zeros(1)
    aug = Augment(out_size=8, flip=False, crop_min=1.0, rotate=90)
    for angle, k in ((math.pi / 2, 1), (-math.pi / 2, -1)):
        grid = aug._grid(one, one, zero, zero, torch.tensor([angle]))
        y = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        assert torch.allclose(y, torch.rot90(x, k, dims=(2, 3)), atol=1e-5)


def test_rotation_angles_are_uniform_within_the_range():
    n = N_DRAW
    aug = Augment(out_size=32, flip=False, rotate=15.0)
    *_, angle = aug._crop_params(n, 32, torch.Generator().manual_seed(0), torch.device("cpu"), n, slice(0, n))
    deg = angle * 180 / 3.141592653589793
    assert float(deg.abs().max()) <= 15.0 and float(deg.abs().max()) > 14.5
    assert 0.47 < float((deg > 0).float().mean()) < 0.53  # symmetric
    assert 0.47 < float((deg.abs() < 7.5).float().mean()) < 0.53  # uniform: half the draws within half the range


def test_the_stages_alone_make_the_whole_augmentation():
    """The test oracles ``crop_flip`` then ``color`` with one generator draw what a whole call draws, in its order,
    so the stage tests above test the pipeline the training uses."""
    x = _batch(n=32)
    aug = Augment(out_size=24, flip=True, crop_min=0.5, rotate=0.0)
    g = torch.Generator().manual_seed(7)
    staged = aug.normalize(color(aug, crop_flip(aug, x, g), g))
    whole = aug(x, torch.Generator().manual_seed(7))
    assert torch.allclose(staged, whole, atol=1e-5)
    assert not torch.allclose(whole, aug(x, torch.Generator().manual_seed(8)), atol=1e-3)  # the seed matters
