import dataclasses

import pytest

from urlsom_core.config import KEY_NEUTRAL_DEFAULTS, ConfigError, RunConfig
from urlsom_core.defaults import defaults_for


def test_roundtrip_and_key_stability():
    cfg = RunConfig.from_dict({"data": {"dataset": "digits"}, "model": {"grid": [10, 12]}})
    again = RunConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.key() == cfg.key()
    assert cfg.replace(**{"model.sigma": 3.0}).key() != cfg.key()
    assert cfg.replace(**{"model.sigma": 3.0}).diff(cfg) == ["model.sigma: 3.0 != 5.0"]


def test_unknown_fields_are_named():
    with pytest.raises(ConfigError, match="sigmaa"):
        RunConfig.from_dict({"model": {"sigmaa": 1}})
    with pytest.raises(ConfigError, match="optim"):
        RunConfig.from_dict({"optim": {}})


def test_lr_schedule_is_the_papers():
    t = RunConfig().train
    assert [t.lr_at(e) for e in (0, 4, 5, 9, 10, 400)] == [1e-4, 1e-4, 5e-4, 5e-4, 1e-3, 1e-3]
    assert t.batch_size == 256 and t.gamma == 2.0 and t.patience == 10 and t.epochs == 500


def test_frozen():
    cfg = RunConfig()
    with pytest.raises(AttributeError):
        cfg.model.sigma = 1.0  # type: ignore[misc]


def test_defaults_for_kinds():
    assert defaults_for("cifar10") == {}
    assert "model" in defaults_for("digits")
    assert defaults_for("mnist:/x")["model"]["blocks"] == 1


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5])
def test_crop_min_range_is_named(bad):
    with pytest.raises(ConfigError, match=f"crop_min {bad}: allowed is 0 < crop_min <= 1"):
        RunConfig.from_dict({"data": {"crop_min": bad}})


@pytest.mark.parametrize("bad", [-1.0, 181.0, "ten"])
def test_rotate_range_is_named(bad):
    with pytest.raises(ConfigError, match=f"rotate {bad}: allowed is 0 <= rotate <= 180"):
        RunConfig.from_dict({"data": {"rotate": bad}})


def test_rotate_zero_keeps_the_config_key_and_another_angle_changes_it():
    """Runs stored before the option existed keep their key; a rotating run gets its own."""
    from urlsom_book.profiles import load_profile

    # the quick book's Fig. 4 run without the usage bias the profile has added since, in float32 and the NCHW
    # layout as then: its key as stored by builds made before the rotate option existed
    cfg = load_profile("quick").runs["cifar10"].config()
    old = {"model.usage_balance": False, "train.amp_cpu": False, "train.channels_last": False, "train.compile": False}
    assert cfg.replace(**old).key() == "8f8ac9f7b68dbe03"
    plain = RunConfig.from_dict({})
    assert RunConfig.from_dict({"data": {"rotate": 0.0}}).key() == plain.key()
    assert RunConfig.from_dict({"data": {"rotate": 10.0}}).key() != plain.key()


def test_crop_min_reaches_the_augmentation():
    from urlsom_core.data import resolve
    from urlsom_core.train import make_augment

    for crop_min in (22 / 32, 0.4):
        cfg = RunConfig.from_dict({"data": {"dataset": "digits", "crop_min": crop_min}})
        sp = resolve(cfg.data)
        assert make_augment(cfg, sp.input_size, sp.flip, sp.train.channel_stats()).crop_min == crop_min


def test_collapse_weight_schedule():
    """Warm-up weight, then a linear ramp to collapse_weight; the paper (all defaults) is 1 throughout."""
    assert {RunConfig().train.collapse_weight_at(e) for e in range(50)} == {1.0}
    t = RunConfig.from_dict({"train": {"warmup_collapse_weight": 2.0, "warmup_collapse_epochs": 15,
                                       "collapse_weight": 0.5, "collapse_ramp_epochs": 10}}).train
    w = [t.collapse_weight_at(e) for e in range(30)]
    assert w[:15] == [2.0] * 15 and w[25:] == [0.5] * 5
    assert all(a > b for a, b in zip(w[14:26], w[15:26], strict=False))  # strictly down during the ramp
    assert w[15] == pytest.approx(2.0 - 1.5 / 11) and w[24] == pytest.approx(0.5 + 1.5 / 11)
    assert dataclasses.replace(t, collapse_ramp_epochs=0).collapse_weight_at(15) == 0.5
    assert RunConfig.from_dict({"train": {"collapse_weight": 0.5}}).train.collapse_weight_at(0) == 0.5


@pytest.mark.parametrize("field,bad,needle", [("collapse_weight", 0.0, "collapse_weight 0.0: allowed is > 0"),
                                              ("collapse_weight", float("nan"), "collapse_weight nan"),
                                              ("collapse_ramp_epochs", -1, "collapse_ramp_epochs -1")])
def test_collapse_weight_range_is_named(field, bad, needle):
    with pytest.raises(ConfigError, match=needle):
        RunConfig.from_dict({"train": {field: bad}})


def test_collapse_weight_reaches_the_loss(monkeypatch):
    """The trainer passes collapse_weight_at(epoch) to the loss."""
    import urlsom_core.train as T
    from urlsom_core.data import resolve

    seen = []
    real = T.urlsom_loss

    def spy(p, z, gamma=2.0, collapse_weight=1.0, **kw):
        seen.append(collapse_weight)
        return real(p, z, gamma=gamma, collapse_weight=collapse_weight, **kw)

    monkeypatch.setattr(T, "urlsom_loss", spy)
    cfg = RunConfig.from_dict({"data": {"dataset": "digits", "subset": 64}, "model": {"grid": [4, 4], "widths": [4, 4, 4],
                               "blocks": 1}, "train": {"epochs": 3, "batch_size": 32, "collapse_weight": 0.5,
                               "collapse_ramp_epochs": 1, "warmup_collapse_weight": 2.0, "warmup_collapse_epochs": 1}})
    T.Trainer(cfg, resolve(cfg.data), progress=False, log=lambda s: None).fit()
    assert seen == [2.0, 1.25, 0.5]  # one step per epoch (a 60-image balanced subset, batch 32)


def test_circular_is_the_torus_and_no_other_boundary_is():
    from urlsom_core.config import BOUNDARIES, ModelConfig, is_circular

    assert [ModelConfig(boundary=b).circular for b in BOUNDARIES] == [b == "circular" for b in BOUNDARIES]
    assert [is_circular(b) for b in BOUNDARIES] == [False, True, False, False]  # zeros, circular, reflect, mass


def test_allowed_values_have_one_home():
    """The readings the schema allows are the ones the code implements, from the same object."""
    from urlsom_core import augment, config, filters

    assert filters.GAUSSIAN_EXTENTS is config.GAUSSIAN_EXTENTS
    assert augment.JITTERS is config.JITTERS
    assert config.GAUSSIAN_EXTENTS == {"side": 3.0, "radius": 6.0}  # +-3 sigma (a side of 6) or +-6 sigma
    assert filters.gaussian_support(2.0, "side") == 13 and filters.gaussian_support(2.0, "radius") == 25


def test_readout_refits_default_key_and_stored_runs():
    import hashlib
    import json

    read = RunConfig.from_dict({"model": {"usage_balance": True, "prototype_readout": True}})
    assert read.model.readout_refits == 0 and RunConfig().model.readout_refits == 0
    # a run stored before the field existed refitted once: that is what it reads back as, under its old key
    stored = read.to_dict()
    del stored["model"]["readout_refits"]
    old = RunConfig.from_stored(stored)
    assert old.model.readout_refits == 1
    for (section, name), neutral in KEY_NEUTRAL_DEFAULTS.items():
        if stored[section].get(name) == neutral:
            del stored[section][name]
    text = json.dumps(stored, sort_keys=True, separators=(",", ":"))
    assert old.key() == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert read.key() != old.key()  # today's readout is another run
    # without the prototype readout the refits change nothing, nor the key
    plain = RunConfig()
    assert plain.replace(**{"model.readout_refits": 3}).key() == plain.key()
    for bad in (-1, 1.5, True, 101):
        with pytest.raises(ConfigError) as e:
            RunConfig.from_dict({"model": {"readout_refits": bad}})
        assert str(e.value) == f"readout_refits {bad!r}: allowed is an integer 0 to 100"
