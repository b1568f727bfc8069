"""From the settings a user gives to a run's config: the one rule that ``urlsom train`` and :class:`SOM` share.

Precedence, lowest first: the dataclass defaults (the paper's settings), the dataset's defaults
(``defaults.defaults_for``), the defaults rule picked from the images and the device (``defaults.auto_defaults``,
only without a config file), a config file's sections, the settings given. With a config file no rule
applies: the file keeps the meaning and the key it had.

Example:
    >>> cfg, reason = resolve_config({"data.dataset": "digits", "model.grid": (6, 6)}, device="cpu")
    >>> cfg.model.grid, cfg.model.boundary, reason.split("'")[1]
    ((6, 6), 'circular', 'cpu-many')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig, load_config_file
from .defaults import NO_WARMUP_KICK, WARMUP_KICK, AutoDefaults, auto_defaults, with_defaults

SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def dotted_name(name: str) -> str:
    """The ``section.field`` of a config field named alone (``'sigma'`` -> ``'model.sigma'``); every field
    name is unique across the three sections. A dotted name is checked and returned as it is.

    Example:
        >>> dotted_name("holdout"), dotted_name("train.epochs")
        ('data.holdout', 'train.epochs')
    """
    import dataclasses

    fields = {f.name: s for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
    section, dot, field = name.rpartition(".")
    if dot and fields.get(field) == section:
        return name
    if not dot and name in fields:
        return f"{fields[name]}.{name}"
    raise ConfigError(f"setting {name!r}: allowed are the fields of the data, model and train sections "
                      f"({', '.join(sorted(fields))})")


def resolve_config(settings: Mapping[str, Any], config_file: str | None = None, device: str = "auto",
                   warmup_kick: bool | None = None, given_where: str = "on the command line") -> tuple[RunConfig, str | None]:
    """The run's config from the settings given, and the defaults rule's one-line reason.

    Parameters
    ----------
    settings : mapping
        ``{'section.field': value}`` or ``{'field': value}`` given by the user (``--sigma 3`` is
        ``{'model.sigma': 3.0}``); None is a value (``model.sigma_end`` None: a fixed filter), so leave out
        what was not given. ``data.dataset`` defaults to the config file's, else ``digits``.
    config_file : str, optional
        A YAML/JSON file with data/model/train sections (``urlsom train --config``). With it no defaults
        rule applies.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``: the device the rule assumes (a GPU: the paper's settings).
    warmup_kick : bool, optional
        True: GNWM's warm-up kick (``defaults.WARMUP_KICK``); False: none (the paper); None: as the defaults say.
    given_where : str
        Where the settings were given, for the reason line ("given on the command line: model.sigma").

    Returns
    -------
    (RunConfig, str or None)
        The config, and the rule's reason (None with a config file, or for a folder without one readable
        image header, whose load then names its bad files). The reason names the settings given that
        replaced the rule's own.

    Notes
    -----
    A shrinking filter of the rule (``model.sigma_end``, its "order" choice wherever it uses the CPU map) is for the
    rule's own filter: where ``model.sigma`` or ``model.filter`` is given without ``model.sigma_end``, the filter
    stays fixed (the reason line says so).
    """
    base: dict[str, Any] = load_config_file(config_file) if config_file else {}
    flags = {dotted_name(k): v for k, v in settings.items()}
    dataset = flags.get("data.dataset") or base.get("data", {}).get("dataset") or "digits"
    merged = with_defaults(dataset, base)
    if warmup_kick is not None:
        flags.update({f"train.{k}": v for k, v in (WARMUP_KICK if warmup_kick else NO_WARMUP_KICK).items()})
    flags["data.dataset"] = dataset
    reason, rule = None, None
    if not config_file:
        rule = _auto_rule(merged, flags, device)
    if rule is not None:
        # the rule replaces the dataset's defaults: what it sets follows from the images, not from their name
        merged = {"data": {}, "model": {}, "train": {}}
        for section, values in rule.sections.items():
            merged[section].update(values)
        given = sorted(k for k in flags if k.partition(".")[2] in rule.sections.get(k.partition(".")[0], {}))
        reason = rule.reason + (f"; given {given_where}: {', '.join(given)}" if given else "")
        own_filter = [k for k in ("model.sigma", "model.filter") if k in flags]
        if merged["model"].get("sigma_end") is not None and own_filter and "model.sigma_end" not in flags:
            merged["model"]["sigma_end"] = None  # the rule's shrinking sigma is for its own filter
            reason += f"; with {' and '.join(own_filter)} given, the filter stays fixed (--sigma-end to shrink it)"
    for dotted, v in flags.items():
        section, name = dotted.split(".")
        merged[section][name] = v
    return RunConfig.from_dict(merged), reason


def _auto_rule(merged: dict[str, dict[str, Any]], flags: dict[str, Any], device: str) -> AutoDefaults | None:
    """``defaults.auto_defaults`` for the data the flags name, on the device ``device`` picks; None for a folder
    without one readable image header (the load then names its bad files)."""
    import torch

    from .data import describe
    from .predict import cpu_bf16_native

    data = {**merged["data"], **{k.partition(".")[2]: v for k, v in flags.items() if k.startswith("data.")}}
    shape = describe(RunConfig.from_dict({"data": data}).data)
    if shape.size < 1:
        return None
    kind = "cuda" if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()) else "cpu"
    grid = flags.get("model.grid", merged["model"].get("grid", ModelConfig.grid))
    return auto_defaults(shape.n_images, shape.size, shape.channels, kind, torch.get_num_threads(),
                         flags.get("train.max_minutes", merged["train"].get("max_minutes")),
                         cpu_bf16=kind == "cpu" and cpu_bf16_native(), n_neurons=int(grid[0]) * int(grid[1]))
