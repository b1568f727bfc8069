"""The two readings of the paper's colour jitter (Sec. V.A), each against values computed by hand."""

import colorsys

import pytest
import torch

from urlsom_core.augment import Augment, simsiam_jitter, torchvision_jitter
from urlsom_core.config import ConfigError, DataConfig, RunConfig

PIXELS = [(0.5, 0.25, 0.0), (0.2, 0.4, 0.6)]  # one 1x2 RGB image


def _img(pixels=PIXELS):
    return torch.tensor(pixels, dtype=torch.float32).T.reshape(1, 3, 1, len(pixels))


def _p(v):
    return torch.tensor(float(v)).view(1, 1, 1, 1)


def _pixels(x):
    return [tuple(x[0, :, 0, i].tolist()) for i in range(x.shape[-1])]


def _close(got, want, tol=1e-5):
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=tol), (got, want)


def _rot(px, turn):  # hue rotation by an independent implementation (the standard library)
    h, s, v = colorsys.rgb_to_hsv(*px)
    return colorsys.hsv_to_rgb((h + turn) % 1.0, s, v)


def test_torchvision_reading_by_hand():
    # brightness x1.2: (0.6, 0.3, 0), (0.24, 0.48, 0.72); lumas 0.3555 and 0.4356, image mean luma m = 0.39555
    # contrast 0.8: (x - m) * 0.8 + m -> (0.55911, 0.31911, 0.07911), (0.27111, 0.46311, 0.65511)
    # saturation 1.5 about each pixel's luma l: pixel 1 l = 0.363511 -> (0.656909, 0.296909, 0)  (B clipped)
    #                                           pixel 2 l = 0.427591 -> (0.192869, 0.480869, 0.768869)
    x = torchvision_jitter(_img(), _p(1.2), _p(0.8), _p(1.5), _p(0.0))
    want = [(0.656909, 0.296909, 0.0), (0.192869, 0.480869, 0.768869)]
    _close(_pixels(x), want)
    # the hue shift: a rotation of the HSV hue by the given turn, values and chroma kept
    y = torchvision_jitter(_img(), _p(1.2), _p(0.8), _p(1.5), _p(0.3))
    _close(_pixels(y), [_rot(px, 0.3) for px in want])


def test_torchvision_reading_clips_after_brightness():
    x = torchvision_jitter(_img([(0.9, 0.5, 0.1)]), _p(1.4), _p(1.0), _p(1.0), _p(0.0))
    _close(_pixels(x), [(1.0, 0.7, 0.14)])


def test_simsiam_reading_by_hand():
    # brightness +0.1: (0.6, 0.35, 0.1), (0.3, 0.5, 0.7)
    # contrast 1.25 about each channel's mean (0.45, 0.425, 0.4): (0.6375, 0.33125, 0.025), (0.2625, 0.51875, 0.775)
    # saturation x1.2 in HSV: pixel 1 s = 0.6125/0.6375 = 0.961 -> 1.153, clipped to 1: (0.6375, 0.31875, 0)
    #                         pixel 2 s = 0.5125/0.775 = 0.661 -> 0.794: (0.16, 0.4675, 0.775)
    x = simsiam_jitter(_img(), _p(0.1), _p(1.25), _p(1.2), _p(0.0))
    want = [(0.6375, 0.31875, 0.0), (0.16, 0.4675, 0.775)]
    _close(_pixels(x), want)
    y = simsiam_jitter(_img(), _p(0.1), _p(1.25), _p(1.2), _p(-0.05))
    _close(_pixels(y), [_rot(px, -0.05) for px in want])


def test_simsiam_reading_matches_hsv_saturation_for_any_factor():
    # tf.image.adjust_saturation: s -> min(1, s * f) at the same hue and value
    torch.manual_seed(0)
    img = torch.rand(1, 3, 4, 4)
    for f in (0.5, 0.9, 1.3):
        out = simsiam_jitter(img, _p(0.0), _p(1.0), _p(f), _p(0.0))
        for i in range(4):
            for j in range(4):
                h, s, v = colorsys.rgb_to_hsv(*img[0, :, i, j].tolist())
                _close(out[0, :, i, j].tolist(), colorsys.hsv_to_rgb(h, min(1.0, s * f), v))


def test_simsiam_reading_brightness_is_additive_and_clipped():
    x = simsiam_jitter(_img([(0.9, 0.5, 0.1)]), _p(0.3), _p(1.0), _p(1.0), _p(0.0))
    _close(_pixels(x), [(1.0, 0.8, 0.4)])
    x = simsiam_jitter(_img([(0.9, 0.5, 0.1)]), _p(-0.3), _p(1.0), _p(1.0), _p(0.0))
    _close(_pixels(x), [(0.6, 0.2, 0.0)])


@pytest.mark.parametrize("reading,ranges", [
    ("torchvision", {"bright": (0.6, 1.4), "contrast": (0.6, 1.4), "sat": (0.6, 1.4), "hue": (-0.4, 0.4)}),
    ("simsiam", {"bright": (-0.32, 0.32), "contrast": (0.68, 1.32), "sat": (0.68, 1.32), "hue": (-0.08, 0.08)}),
])
def test_drawn_parameters_cover_each_readings_ranges(reading, ranges):
    aug = Augment(out_size=8, jitter_p=1.0, jitter_reading=reading)
    p = aug._color_params(4000, 3, torch.Generator().manual_seed(0), torch.device("cpu"), 4000, slice(0, 4000))
    for k, (lo, hi) in ranges.items():
        v = p[k].flatten()
        assert v.min() >= lo - 1e-6 and v.max() <= hi + 1e-6, (k, v.min(), v.max())
        assert v.min() < lo + 0.02 * (hi - lo) and v.max() > hi - 0.02 * (hi - lo), (k, v.min(), v.max())


def test_the_readings_give_different_views_and_one_channel_works():
    x = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    a = Augment(out_size=16)(x, torch.Generator().manual_seed(1))
    b = Augment(out_size=16, jitter_reading="simsiam")(x, torch.Generator().manual_seed(1))
    assert a.shape == b.shape and not torch.allclose(a, b)
    g = Augment(out_size=16, jitter_reading="simsiam")(x[:, :1], torch.Generator().manual_seed(1))
    assert g.shape == (8, 1, 16, 16) and torch.isfinite(g).all()


def test_bad_reading_is_one_clear_error():
    with pytest.raises(ValueError, match="jitter reading 'keras': allowed is one of torchvision, simsiam"):
        Augment(out_size=8, jitter_reading="keras")
    with pytest.raises(ConfigError, match="jitter 'keras': allowed is one of torchvision, simsiam"):
        DataConfig(jitter="keras").validate()


def test_the_config_field_reaches_the_augment():
    from urlsom_core.data import resolve
    from urlsom_core.train import make_augment

    cfg = RunConfig.from_dict({"data": {"dataset": "digits", "jitter": "simsiam"}})
    sp = resolve(cfg.data)
    assert make_augment(cfg, sp.input_size, sp.flip, sp.train.channel_stats()).jitter_reading == "simsiam", (
        "train.make_augment must pass jitter_reading=cfg.data.jitter to Augment")


def test_cli_flag(tmp_path):
    from urlsom_book import cli

    p = cli._Parser()
    cli._add_run_options(p)
    cfg = cli.config_from_args(p.parse_args(["--jitter", "simsiam", "--gaussian-extent", "radius"]))
    assert cfg.data.jitter == "simsiam" and cfg.model.gaussian_extent == "radius"
