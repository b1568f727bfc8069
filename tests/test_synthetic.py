"""urlsom_book.synthetic: deterministic generators, the npz layout the project reads, latents that mean what
they say (a texture's spectrum lies at its orientation; a flip keeps the folded orientation)."""

import numpy as np
import pytest

from urlsom_book.synthetic import GENERATORS, SHAPES, generate, read_latents, write_npz
from urlsom_core.config import ConfigError
from urlsom_core.sources import read_npz

SMALL = {"shapes": 24, "ellipses": 24, "textures": 24, "digits-noisy": 50, "digits-inverted": 50}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_generators_are_deterministic_and_seeded(name):
    a, b, c = generate(name, SMALL[name], seed=0), generate(name, SMALL[name], seed=0), generate(name, SMALL[name], seed=1)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.latents, b.latents) and np.array_equal(a.raw_latents, b.raw_latents)
    assert not np.array_equal(a.images, c.images)
    assert a.images.dtype == np.uint8 and len(a.images) == len(a.labels) == len(a.latents) == SMALL[name]


@pytest.mark.parametrize("name", list(GENERATORS))
def test_written_npz_is_a_dataset_the_project_reads_with_its_latents(name, tmp_path):
    s = generate(name, SMALL[name], seed=0)
    p = write_npz(s, tmp_path / f"{name}.npz")
    x, y, classes = read_npz(str(p))  # the npz:PATH reader ignores the extra arrays
    assert np.array_equal(x, s.images) and len(y) == len(s.labels) and len(classes) == len(np.unique(s.labels))
    lat = read_latents(p)
    if s.has_latents:
        assert np.array_equal(lat[0], s.latents) and lat[1] == s.latent_names
    else:
        assert lat is None


def test_shapes_layout_and_latent_ranges():
    s = generate("shapes", 40, seed=3)
    assert s.images.shape == (40, 32, 32, 3) and s.class_names == SHAPES
    assert set(np.bincount(s.labels)) == {10}  # the classes in turn
    x_mid, y, log_r, rot = s.latents.T
    assert (x_mid >= 0).all() and (x_mid <= 7).all() and (y >= 9).all() and (y <= 23).all()
    assert (log_r >= 2).all() and (log_r <= np.log2(10) + 1e-9).all()
    assert (rot >= 0).all() and (rot <= 1).all()
    assert s.raw_latent_names[-1] == "hue" and "hue" not in s.latent_names  # jittered away in training: not scored


def test_a_shape_is_drawn_where_its_latents_say():
    s = generate("shapes", 12, seed=0)
    for img, (cx, cy, r, _, _) in zip(s.images, s.raw_latents, strict=True):
        fg = np.abs(img.astype(float) - np.median(img.reshape(-1, 3), 0)).sum(-1) > 60
        ys, xs = np.nonzero(fg)
        assert abs(xs.mean() + 0.5 - cx) < 0.35 * r + 1 and abs(ys.mean() + 0.5 - cy) < 0.35 * r + 1


def _orientation(img):
    """The dominant wave-vector angle (degrees, mod 180) of an image's power spectrum, v upwards."""
    P = np.abs(np.fft.fft2(img - img.mean())) ** 2
    f = np.fft.fftfreq(img.shape[0])
    fy, fx = np.meshgrid(f, f, indexing="ij")
    ang = np.arctan2(-fy, fx)
    z = (P * np.exp(2j * ang)).sum()
    return np.rad2deg(np.angle(z) / 2) % 180


def test_texture_orientation_is_in_its_spectrum_and_a_flip_keeps_the_folded_latent():
    s = generate("textures", 30, seed=0)
    theta = s.raw_latents[:, 0]
    for img, t, folded in zip(s.images.astype(float), theta, s.latents[:, 0], strict=True):
        est = _orientation(img)
        assert min(abs(est - t), 180 - abs(est - t)) < 12
        flipped = _orientation(img[:, ::-1])  # a horizontal flip: theta -> 180 - theta
        assert min(abs(flipped - (180 - t)), 180 - abs(flipped - (180 - t))) < 12
        assert abs(min(flipped, 180 - flipped) - folded) < 12  # the folded orientation survives the flip
    assert (s.latents[:, 0] <= 90).all() and s.labels.max() <= 8


def _moments(img):
    """The orientation (degrees, mod 180, v upwards) and axis ratio of an image's bright blob (second moments)."""
    m = (img - np.median(img)) > 0.5 * (img.max() - np.median(img))
    ys, xs = np.nonzero(m)
    c = np.cov(np.stack((xs, -ys)))  # v upwards
    w, v = np.linalg.eigh(c)
    return np.rad2deg(np.arctan2(v[1, 1], v[0, 1])) % 180, np.sqrt(w[1] / w[0])


def test_an_ellipse_lies_at_its_orientation_and_elongation_and_a_flip_keeps_the_folded_latent():
    s = generate("ellipses", 30, seed=0)
    assert s.images.shape == (30, 32, 32) and s.latent_names == ("orientation_folded_deg", "log2_elongation")
    for img, (t, e), folded in zip(s.images.astype(float), s.raw_latents[:, :2], s.latents[:, 0], strict=True):
        est, ratio = _moments(img)
        if e > 2:  # a rounder ellipse's orientation is measured less sharply on 32 px
            assert min(abs(est - t), 180 - abs(est - t)) < 8
        assert abs(np.log2(ratio) - np.log2(e)) < 0.35
        flipped, _ = _moments(img[:, ::-1])
        if e > 2:
            assert abs(min(flipped, 180 - flipped) - folded) < 8  # the folded orientation survives the flip
    assert (s.latents[:, 0] <= 90).all() and s.labels.max() <= 8
    assert np.allclose(2.0 ** s.latents[:, 1], s.raw_latents[:, 1])


def test_digit_variants():
    from urlsom_core.sources import read_digits

    x, _, _ = read_digits()
    inv = generate("digits-inverted", None, seed=0)
    assert np.array_equal(inv.images, 255 - x) and not inv.has_latents
    noisy = generate("digits-noisy", None, seed=0)
    assert noisy.images.shape == x.shape and 20 < np.abs(noisy.images.astype(float) - x).mean() < 60  # clipped at 0 and 255


def test_bad_input_is_one_line():
    with pytest.raises(ConfigError, match="allowed are shapes"):
        generate("circles")
    with pytest.raises(ConfigError, match="n 0"):
        generate("shapes", 0)
    with pytest.raises(ConfigError, match="at most 1797"):
        generate("digits-noisy", 5000)
