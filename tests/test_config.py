import pytest

from urlsom_core.config import ConfigError, RunConfig, defaults_for


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


def test_crop_min_reaches_the_augmentation():
    from urlsom_core.data import resolve
    from urlsom_core.train import make_augment

    for crop_min in (22 / 32, 0.4):
        cfg = RunConfig.from_dict({"data": {"dataset": "digits", "crop_min": crop_min}})
        assert make_augment(cfg, resolve(cfg.data)).crop_min == crop_min
