"""A trained map's figures: one evaluation for the run store, ``urlsom evaluate`` and the benchmarks.

:func:`evaluate` writes the layout of a run's ``metrics.json`` and ``assignments.npz``. The paper's map comes
first: the top level holds the figures of the network's own winners (the argmax of Eq. 1's Softmax): neural
selectivity (Sec. V.C), live neurons, held-out NS and the map metrics of :mod:`urlsom_core.metrics`. A readout
fitted after training (:mod:`urlsom_core.readouts`, not the paper's method) adds its own section beside them::

    metrics["readout"] = {"usage_balance": true, "prototype_readout": true, "rounds": 0,
                          "neural_selectivity": ..., "heldout_neural_selectivity": ..., ...,  # as read out
                          "bias_only": {...}}  # with the bias, without the prototypes (when both are on)

and the assignments hold ``winner``, ``top2``, ``label`` (and ``heldout_winner``, ``heldout_label``) of the
network, with ``readout_winner``, ``readout_top2`` and ``readout_heldout_winner`` beside them.
:func:`readout_figures` and :func:`readout_assignments` give the map as its run reads it out, in the network's
layout; :func:`unnest_metrics` and :func:`unnest_assignments` read runs whose files nest the network's figures
under ``usage_balance.before`` / ``prototype_readout.before`` and keep its winners as ``network_winner``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .augment import Augment
from .config import RunConfig
from .data import ImageData
from .metrics import heldout_neural_selectivity, heldout_on_dead, map_metrics, neural_selectivity, topographic_error
from .model import URLSOM
from .predict import predict
from .readouts import Readout

# metrics.json's keys that describe the run, not a map's winners
RUN_KEYS = ("epochs_trained", "stop_reason", "train_seconds", "final_loss", "config_key", "provenance", "n_samples",
            "dataset", "run")
BIAS_ONLY_KEYS = ("neural_selectivity", "active_neurons", "topographic_error", "heldout_neural_selectivity",
                  "heldout_on_dead")


def evaluate(cfg: RunConfig, model: URLSOM, aug: Augment, device: torch.device, data: ImageData,
             heldout: ImageData | None = None, readout: Readout | None = None,
             labelled_by: Mapping[str, np.ndarray] | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The figures of ``model``'s map on ``data`` (module docstring) and its assignments.

    Parameters
    ----------
    cfg : RunConfig
        The run (grid, boundary).
    model : URLSOM
        The trained network, the paper's map.
    aug : Augment
        The run's augmentation, of which the un-augmented path (``plain``: the run's channel statistics) is used.
    device : torch.device
        Where to predict.
    data : ImageData
        The images scored: NS, live neurons, the map metrics (:func:`~urlsom_core.metrics.map_metrics`, TE,
        contiguity, trustworthiness, NMI, ARI, usage) and ``output_spread``, the median number of neurons
        an output spreads over.
    heldout : ImageData, optional
        Scored with the neuron labels learnt on ``data``: ``heldout_neural_selectivity``,
        ``heldout_active_neurons`` and ``heldout_on_dead`` (the share on neurons that won no image of ``data``).
    readout : Readout, optional
        A fitted readout: the map as read out gets the same figures under ``metrics["readout"]``.
    labelled_by : mapping, optional
        Assignments of the images that label the neurons (a run's stored ``winner`` and ``label``, and
        ``readout_winner`` with a readout), when ``data`` is another dataset: ``data`` is then also scored
        as held-out with those labels (``heldout_neural_selectivity``, ``heldout_on_dead``).

    Returns
    -------
    tuple
        ``metrics`` (JSON-ready; an undefined figure is None) and ``assignments``: ``winner`` (N,),
        ``top2`` (N, 2), ``label`` (N,), with ``heldout`` ``heldout_winner`` and ``heldout_label``, and with
        a readout ``readout_winner``, ``readout_top2`` (and ``readout_heldout_winner``).
    """
    if heldout is not None and labelled_by is not None:
        raise ValueError("evaluate: heldout and labelled_by both given; allowed is one source of held-out figures")
    tr = predict(model, data, aug, device, embed=True, readout=readout)
    te = predict(model, heldout, aug, device, readout=readout) if heldout is not None else None
    y = data.labels.numpy()
    ye = heldout.labels.numpy() if heldout is not None else None
    assign: dict[str, np.ndarray] = {"winner": tr["winner"].astype(np.int32), "label": y.astype(np.int16),
                                     "top2": tr["top2"].astype(np.int32)}
    if te is not None:
        assign.update(heldout_winner=te["winner"].astype(np.int32), heldout_label=ye.astype(np.int16))

    def heldout_winners(key: str) -> np.ndarray | None:
        return te[key] if te is not None else None

    ref = None if labelled_by is None else (labelled_by["winner"], labelled_by["label"])
    metrics = _figures(cfg, y, tr["top2"], tr["spread"], tr["embedding"], ye, heldout_winners("winner"), ref)
    if readout is None:
        return metrics, assign
    ref = None if labelled_by is None else (labelled_by["readout_winner"], labelled_by["label"])
    read: dict[str, Any] = {"usage_balance": readout.usage_balance, "prototype_readout": readout.prototype_readout}
    if readout.rounds is not None:
        read["rounds"] = int(readout.rounds)
    read.update(_figures(cfg, y, tr["readout_top2"], tr["readout_spread"], tr["embedding"], ye,
                         heldout_winners("readout_winner"), ref))
    if "bias_top2" in tr:  # the bias alone, before the prototypes refine its winners
        we = heldout_winners("bias_top2")
        short = _figures(cfg, y, tr["bias_top2"], None, None, ye, None if we is None else we[:, 0], ref, full=False)
        read["bias_only"] = {k: short[k] for k in BIAS_ONLY_KEYS if k in short}
    metrics["readout"] = read
    assign.update(readout_winner=tr["readout_winner"].astype(np.int32), readout_top2=tr["readout_top2"].astype(np.int32))
    if te is not None:
        assign["readout_heldout_winner"] = te["readout_winner"].astype(np.int32)
    return metrics, assign


def _figures(cfg: RunConfig, y: np.ndarray, top2: np.ndarray, spread: np.ndarray | None, emb: np.ndarray | None,
             ye: np.ndarray | None, we: np.ndarray | None, ref: tuple[np.ndarray, np.ndarray] | None,
             full: bool = True) -> dict[str, Any]:
    """The figures of one set of winners (``top2[:, 0]``) of the images labelled ``y``; :func:`evaluate`.
    ``full=False``: NS, live neurons, TE and the held-out figures only."""
    n, grid, torus = cfg.model.n_neurons, tuple(cfg.model.grid), cfg.model.circular
    w = top2[:, 0]
    out: dict[str, Any] = dict(neural_selectivity(w, y, n))
    if full:
        out.update(map_metrics(w, top2, y, grid, emb, torus=torus, lattice=cfg.model.lattice))  # usage metrics included
        out["output_spread"] = float(np.median(spread))  # neurons an un-augmented output spreads over
    else:
        out["topographic_error"] = topographic_error(top2, grid, torus=torus, lattice=cfg.model.lattice)
    if we is not None:
        out["heldout_neural_selectivity"] = heldout_neural_selectivity(w, y, we, ye, n)
        if full:
            out["heldout_active_neurons"] = int(np.unique(we).size)
        out["heldout_on_dead"] = heldout_on_dead(w, we, n)
    if ref is not None:
        out["heldout_neural_selectivity"] = heldout_neural_selectivity(ref[0], ref[1], w, y, n)
        out["heldout_on_dead"] = heldout_on_dead(ref[0], w, n)
    return out


def readout_figures(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The figures of the map as its run reads it out, in the layout of the network's own: ``metrics`` with
    its ``readout`` section's figures in place of the network's (the run's own keys kept), or ``metrics``
    itself (as a dict) when no readout was fitted.

    Example:
        >>> readout_figures({"active_neurons": 580, "epochs_trained": 8,
        ...                  "readout": {"usage_balance": True, "active_neurons": 880}})["active_neurons"]
        880
        >>> readout_figures({"active_neurons": 580})
        {'active_neurons': 580}
    """
    read = metrics.get("readout")
    if not read:
        return dict(metrics)
    own = {k: v for k, v in metrics.items() if k in RUN_KEYS or k == "n_neurons"}
    return {**own, **{k: v for k, v in read.items() if k not in ("usage_balance", "prototype_readout")}}


def readout_assignments(assignments: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A run's assignments (or :func:`~urlsom_core.predict.predict`'s output) with the readout's winners in
    place of the network's (``winner``, ``top2``, ``heldout_winner``, ``spread``), or as they are when no
    readout was fitted."""
    if "readout_winner" not in assignments:
        return dict(assignments)
    out = {k: v for k, v in assignments.items() if not k.startswith("readout_") and k != "bias_top2"
           and k not in ("top2", "heldout_winner", "spread")}
    for k in ("winner", "top2", "heldout_winner", "spread"):
        if f"readout_{k}" in assignments:
            out[k] = assignments[f"readout_{k}"]
    return out


def unnest_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics`` in the layout of :func:`evaluate`, from a metrics.json that nests the network's figures
    under ``usage_balance.before`` / ``prototype_readout.before`` (the figures at its top level being the
    map's as read out); any other metrics are returned as they are. The network's figures are those the nested
    file kept (NS, live neurons, held-out NS and share on dead neurons, TE, and with the bias the usage
    figures): the map metrics it did not keep (contiguity, trustworthiness ...) stay absent.

    Example:
        >>> m = unnest_metrics({"active_neurons": 880, "n_neurons": 900, "epochs_trained": 8,
        ...                     "usage_balance": {"before": {"active_neurons": 580}}})
        >>> m["active_neurons"], m["readout"]["active_neurons"], m["readout"]["usage_balance"]
        (580, 880, True)
    """
    ub, pr = metrics.get("usage_balance"), metrics.get("prototype_readout")
    if not (isinstance(ub, Mapping) or isinstance(pr, Mapping)):
        return dict(metrics)
    nested = ("usage_balance", "prototype_readout")
    read: dict[str, Any] = {"usage_balance": isinstance(ub, Mapping), "prototype_readout": isinstance(pr, Mapping)}
    if isinstance(pr, Mapping) and "rounds" in pr:
        read["rounds"] = pr["rounds"]
    read.update({k: v for k, v in metrics.items() if k not in RUN_KEYS and k not in nested})
    if isinstance(ub, Mapping) and isinstance(pr, Mapping):
        read["bias_only"] = dict(pr["before"])
    out = {k: v for k, v in metrics.items() if k in RUN_KEYS}
    if "n_neurons" in metrics:
        out["n_neurons"] = metrics["n_neurons"]
    out.update((ub if isinstance(ub, Mapping) else pr)["before"])
    out["readout"] = read
    return out


def unnest_assignments(assignments: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``assignments`` in the layout of :func:`evaluate`, from an assignments.npz that keeps the network's
    winners as ``network_winner`` beside the readout's as ``winner`` (its ``top2`` and ``heldout_winner``
    being the readout's too); any other assignments are returned as they are. Such a file holds no top two
    and no held-out winners of the network, so those stay absent."""
    if "network_winner" not in assignments:
        return dict(assignments)
    out = {k: v for k, v in assignments.items() if k in ("label", "heldout_label")}
    out.update(winner=assignments["network_winner"], readout_winner=assignments["winner"])
    if "top2" in assignments:
        out["readout_top2"] = assignments["top2"]
    if "heldout_winner" in assignments:
        out["readout_heldout_winner"] = assignments["heldout_winner"]
    return out
