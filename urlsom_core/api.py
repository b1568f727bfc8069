"""The estimator a SOM user expects: ``SOM(...).fit(images)``, ``winner``, ``activation_map``, ``save``, ``load``.

The names follow the SOM libraries people already use (MiniSom's ``winner`` and ``activation_response``,
scikit-learn's ``fit`` returning the estimator). Underneath it is the ``urlsom train`` command's own code: the
settings resolve as the command's flags do (:func:`urlsom_core.configure.resolve_config`: the dataset's
defaults, then the defaults rule picked from the images and the device, then what is given), and the map is
trained into the run store (:func:`urlsom_core.runs.train_run` into ``root/<config key>``), so the same
settings on the same images are the same run, trained once. A fitted SOM *is* a run directory:
``urlsom evaluate --run DIR`` and ``urlsom map --run DIR`` read what :meth:`SOM.save` writes, and
:meth:`SOM.load` reads any complete run, also one that ``urlsom train`` wrote.

Arrays given to :meth:`SOM.fit` are written once as an ``.npz`` (``images``, ``labels``: the ``npz:PATH``
layout of :mod:`urlsom_core.data`) into a content-addressed cache, ``root/arrays/<hash>.npz``, so the run's
config names a plain dataset spec. The channel statistics that standardise every image it maps are stored
with the run (``config.json``), so a saved SOM maps new images without its training data.

New images reach the network as the run's own evaluation brings them (``runs.load_for_eval``): resized to the
run's input size, brought to its channels, standardised with its training images' channel statistics
(``augment.Augment.plain``). Unlike a labelled evaluation set they are never contrast-inverted
(``data.invert_fraction``): every image is mapped as it is.

Example: a tiny map from a numpy array, saved, loaded, the same winners (seconds).

    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from urlsom_core import SOM
    >>> images = (load_digits().images[:128] * 16).astype(np.uint8)  # (128, 8, 8), values 0..255
    >>> tmp = tempfile.mkdtemp()
    >>> som = SOM(grid=(4, 4), epochs=1, root=f"{tmp}/runs", device="cpu", verbose=False).fit(images)
    >>> rows_cols = som.winner(images)
    >>> rows_cols.shape, int(rows_cols.min()) >= 0, int(rows_cols.max()) <= 3
    ((128, 2), True, True)
    >>> som.activation_map(images[:2]).shape  # the Softmax over the 4x4 grid
    (2, 4, 4)
    >>> path = som.save(f"{tmp}/my-map")
    >>> again = SOM.load(path, device="cpu")
    >>> bool((again.winner(images) == rows_cols).all())
    True
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .config import ConfigError, RunConfig, load_config_file
from .configure import dotted_name, resolve_config

IMAGE_DTYPES = "uint8, integers in 0..255, or floats in [0, 1] or [0, 255]"
MAP_CHUNK = 4096  # images per pass when mapping: the Softmax of a chunk is (4096, n) float32


def as_uint8_images(images: Any, name: str = "images") -> np.ndarray:
    """``images`` as uint8 (N, H, W) or (N, H, W, C) arrays, the layout the ``npz:`` spec reads.

    uint8 is taken as it is; other integers must lie in 0..255; floats (all finite) in [0, 1] are scaled by
    255, floats in [0, 255] are rounded (an array whose values all lie in [0, 1] is read as [0, 1]).
    C is 1 (gray), 2 (gray and alpha), 3 (RGB) or 4 (RGBA); the alpha channel is dropped at load.

    Example:
        >>> as_uint8_images(np.array([[[0.0, 0.5, 1.0]]])).tolist()
        [[[0, 128, 255]]]
    """
    x = np.asarray(images)
    if x.ndim not in (3, 4) or x.shape[0] < 1:
        raise ConfigError(f"{name} of shape {x.shape}: allowed is N x H x W or N x H x W x C (channels last), N >= 1")
    if x.ndim == 4 and x.shape[3] not in (1, 2, 3, 4):
        hint = (f"; they look channels-first (N, {x.shape[1]}, H, W): transpose with images.transpose(0, 2, 3, 1)"
                if x.shape[1] in (1, 3, 4) else "")
        raise ConfigError(f"{name} of shape {x.shape}: allowed are 1, 2, 3 or 4 channels on the last axis{hint}")
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise ConfigError(f"{name} {x.dtype} with values {lo}..{hi}: allowed is {IMAGE_DTYPES}")
        return x.astype(np.uint8)
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise ConfigError(f"{name} {x.dtype}: not all finite (NaN or Inf); allowed is {IMAGE_DTYPES}")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 255:
            raise ConfigError(f"{name} {x.dtype} with values {lo:g}..{hi:g}: allowed is {IMAGE_DTYPES}")
        scale = 255.0 if hi <= 1.0 else 1.0
        return np.clip(np.rint(x * scale), 0, 255).astype(np.uint8)
    raise ConfigError(f"{name} of dtype {x.dtype}: allowed is {IMAGE_DTYPES}")


def cache_arrays(images: Any, labels: Any, root: str | Path) -> Path:
    """Write ``images`` (and ``labels``; none: every image class 0) once as ``root/arrays/<hash>.npz`` and return
    its absolute path; the hash is of the arrays' content, so the same arrays give the same file (and so the
    same dataset spec, the same run)."""
    from .files import atomic_write

    x = as_uint8_images(images)
    if labels is None:
        y = np.zeros(len(x), dtype=np.int64)
    else:
        y = np.asarray(labels)
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise ConfigError(f"labels {y.dtype} {y.shape}: allowed is {len(x)} integers, one per image (or none)")
        y = y.astype(np.int64)
    h = hashlib.sha256()
    for a in (x, y):
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    path = (Path(root) / "arrays" / f"{h.hexdigest()[:20]}.npz").resolve()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda fh: np.savez(fh, images=x, labels=y))
    return path


def read_image_files(path: str | Path, decode_size: int) -> tuple[list[str], list[np.ndarray] | np.ndarray]:
    """The images of a folder (any image files, in sub-folders too), a ``.zip`` of them or an ``.npz`` (array
    ``images``; labels are not needed), and their names: each file's path inside the folder or zip (sorted),
    or the image's index in the npz.

    Files are decoded as :func:`urlsom_core.data.load_dataset` decodes them (large photos shrunk to
    ``decode_size`` on the short side as they are read). A file that cannot be decoded, a folder without an
    image file, or a missing path is a one-line ConfigError naming it.
    """
    from .sources import IMAGE_EXT, ImageSource, why

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"images {path}: does not exist; allowed is a folder of images, a .zip of one or an .npz")
    if p.suffix.lower() == ".npz" and p.is_file():
        try:
            with np.load(p, allow_pickle=False) as z:
                if "images" not in z.files:
                    raise ConfigError(f"images {path}: no array 'images' (it has {', '.join(z.files) or 'none'}); "
                                      "allowed is an .npz with images N x H x W [x C]")
                x = as_uint8_images(z["images"], name=f"images {path}:images")
        except ConfigError:
            raise
        except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
            raise ConfigError(f"images {path}: cannot read as .npz ({why(e)})") from None
        return [str(i) for i in range(len(x))], x
    if p.is_dir() and not any(f.suffix.lower() in IMAGE_EXT and f.is_file() for f in p.rglob("*")):
        raise ConfigError(f"images {path}: no image files ({', '.join(IMAGE_EXT)}) in the folder or its sub-folders")
    try:
        src = ImageSource(str(p))
    except ConfigError as e:  # not a zip, or a zip without images
        raise ConfigError(f"images {path}: {str(e).partition(': ')[2]}") from None
    arrays, bad = [], []
    for i, member in enumerate(src.members):
        a, reason = src.decode(i, decode_size)
        if a is None:
            bad.append(f"{member}: {reason}")
        else:
            arrays.append(a)
    if bad:
        shown = ", ".join(bad[:3]) + (", ..." if len(bad) > 3 else "")
        raise ConfigError(f"images {path}: {len(bad)} of {len(src.members)} image files cannot be read ({shown}); "
                          "fix or remove them")
    return list(src.members), arrays


def images_for_run(run: Any, images: list[np.ndarray] | np.ndarray, name: str = "images") -> Any:
    """``images`` (a uint8 array N x H x W [x C], or a list of decoded H x W x C files) as the run's network
    takes them: resized to the run's input size and brought to its channels, as ``runs.load_for_eval`` brings
    a dataset (no contrast inversion). Returns an :class:`~urlsom_core.data.ImageData` whose labels are 0."""
    import torch

    from .data import ImageData, match_channels, to_input_size

    x = to_input_size(images, int(run.resolved["input_size"]))  # (N, C, S, S) uint8
    data = ImageData(x, torch.zeros(len(x), dtype=torch.int64), ["0"], name)
    return match_channels(data, int(run.resolved["channels"]))


def run_augment(run: Any) -> Any:
    """The run's un-augmented view (``Augment.plain``: resize and the training images' channel statistics,
    stored with the run), as its own evaluation uses it; a one-line ConfigError when a run stored without its
    statistics has lost its training data."""
    try:
        return run.augment()
    except ConfigError as e:
        raise ConfigError(f"run {run.path}: its training data ({run.config.data.dataset}) is needed for the channel "
                          f"statistics that standardise the images, and cannot be read ({e})") from None


def map_images(run: Any, data: Any, device: str = "cpu", model: Any = None, aug: Any = None,
               softmax: bool = False) -> dict[str, np.ndarray]:
    """Winners of ``run``'s map on ``data`` (an :class:`~urlsom_core.data.ImageData` from
    :func:`images_for_run`), in chunks of ``MAP_CHUNK`` images.

    Returns the network's own ``winner`` (N,) row-major neuron (the paper's map: the argmax of Eq. 1's
    Softmax), its ``row`` and ``column`` (N,), ``p_winner`` (N,) the Softmax at the winner, with ``softmax``
    the whole Softmax ``softmax`` (N, n) float32, and where the run has a readout fitted after training (not
    the paper's method) the readout's ``readout_winner``, ``readout_row`` and ``readout_column`` beside them.
    ``model`` / ``aug``: the run's network and view when already loaded."""
    import torch

    from .distributed import pick_device
    from .predict import predict

    dev = pick_device(device)
    model = model if model is not None else run.load_model(str(dev))
    aug = aug if aug is not None else run_augment(run)
    readout = run.readout()
    H, W = run.config.model.grid
    winners, p_win, probs, read = [], [], [], []
    for i in range(0, len(data), MAP_CHUNK):
        part = data.subset(torch.arange(i, min(i + MAP_CHUNK, len(data))))
        out = predict(model, part, aug, dev, activations=True, readout=readout)
        w = out["winner"].astype(np.int64)
        winners.append(w)
        p_win.append(out["softmax"][np.arange(len(w)), w])
        if softmax:
            probs.append(out["softmax"])
        if readout is not None:
            read.append(out["readout_winner"].astype(np.int64))
    w = np.concatenate(winners) if winners else np.zeros(0, dtype=np.int64)
    res = {"winner": w, "row": w // W, "column": w % W,
           "p_winner": np.concatenate(p_win) if p_win else np.zeros(0, dtype=np.float32)}
    if softmax:
        res["softmax"] = np.concatenate(probs) if probs else np.zeros((0, H * W), dtype=np.float32)
    if readout is not None:
        r = np.concatenate(read) if read else np.zeros(0, dtype=np.int64)
        res.update(readout_winner=r, readout_row=r // W, readout_column=r % W)
    return res


def _to_stderr(line: str) -> None:
    """A training's messages (the defaults line, why a run trains or resumes, the epoch-time line) to stderr."""
    import sys

    print(line, file=sys.stderr, flush=True)


def _quiet(line: str) -> None:
    pass


class SOM:
    """A URL-SOM map with the interface of the SOM libraries: ``fit``, ``winner``, ``activation_map``,
    ``save``, ``load``.

    Parameters
    ----------
    grid : (int, int)
        The map's rows and columns (the paper's 30 x 30).
    epochs : int, optional
        Most epochs of training (early stopping may end it sooner); None: as the defaults say.
    seed : int
        Seed of the initialisation, the batches and the augmentation.
    root : path
        The run store the map is trained into (``root/<config key>``) and where arrays are cached.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, for training and mapping.
    config : path, optional
        A YAML/JSON config file (``urlsom train --config``); then no defaults rule applies.
    warmup_kick : bool, optional
        GNWM's warm-up kick on (True) or off (False); None: as the defaults say (``--warmup-kick``).
    verbose : bool
        The defaults line, the epoch-time line and a progress bar on stderr while training.
    **settings
        Any field of the data, model and train sections by name (``sigma=3``, ``holdout=0.2``,
        ``boundary="circular"``, ``max_minutes=20``, ``usage_balance=False``; dotted ``"model.sigma"`` also
        works through ``**{...}``), as ``urlsom train``'s flags set them. What is given wins over the
        defaults rule and a config file, as flags do; ``grid`` and ``seed`` are always given.

    Attributes
    ----------
    run_ : Run
        The trained run (after :meth:`fit` or :meth:`load`): ``run_.path``, ``run_.metrics``,
        ``run_.history``, ``run_.assignments()``.
    config_ : RunConfig
        Its config.
    defaults_rule_ : str or None
        The defaults rule's one-line reason (None with a config file, and after :meth:`load`).

    Notes
    -----
    The map is the paper's (Sec. III, Eq. 1): a ResNet backbone, a linear projection to the grid, a fixed
    radial convolution and a Softmax over the neurons. An image's winner is the neuron of its largest output,
    the network's own. Where the defaults fit a readout after training (on a CPU, and on a GPU with few images
    per neuron: a usage bias and a prototype readout, not the paper's method), :meth:`winner` gives the network's
    winner and ``winner(images, readout=True)`` the readout's (``urlsom_core.readouts``).
    """

    def __init__(self, grid: Sequence[int] = (30, 30), epochs: int | None = None, seed: int = 0, *,
                 root: str | Path = "runs", device: str = "auto", config: str | None = None,
                 warmup_kick: bool | None = None, verbose: bool = True, **settings: Any) -> None:
        given: dict[str, Any] = {"model.grid": tuple(grid) if isinstance(grid, (list, tuple)) else grid,
                                 "train.seed": seed}
        if epochs is not None:
            given["train.epochs"] = epochs
        for k, v in settings.items():
            d = dotted_name(k)
            if d in ("model.grid", "train.seed", "train.epochs"):
                raise ConfigError(f"setting {k!r}: give it as SOM({d.partition('.')[2]}=...)")
            if d == "data.dataset":
                raise ConfigError(f"setting {k!r}: the data is what fit() gets (arrays or a dataset spec)")
            given[d] = tuple(v) if isinstance(v, list) else v
        self.settings = given
        self.root, self.device, self.config, self.warmup_kick, self.verbose = Path(root), device, config, warmup_kick, verbose
        self._check_values()
        self.run_: Any = None
        self.config_: RunConfig | None = None
        self.defaults_rule_: str | None = None
        self._net: tuple[Any, Any, str] | None = None

    def _check_values(self) -> None:
        """Refuse a bad value now (one line), before any image is read: the settings on the dataclass defaults
        and the config file's sections."""
        base = load_config_file(self.config) if self.config else {}
        sections: dict[str, dict[str, Any]] = {s: dict(base.get(s) or {}) for s in ("data", "model", "train")}
        for dotted, v in self.settings.items():
            section, _, name = dotted.partition(".")
            sections[section][name] = v
        RunConfig.from_dict(sections)

    def __repr__(self) -> str:
        where = f", run {self.run_.path}" if self.run_ is not None else ""
        shown = ", ".join(f"{k.partition('.')[2]}={v!r}" for k, v in self.settings.items())
        return f"SOM({shown}{where})"

    # ------------------------------------------------------------------------------------------ fitting
    def config_for(self, images: Any, labels: Any = None) -> tuple[RunConfig, str | None]:
        """The config :meth:`fit` trains for ``images`` (arrays, which are cached, or a dataset spec) and the
        defaults rule's reason, as ``urlsom train --dataset SPEC`` with the same flags resolves them."""
        if isinstance(images, (str, os.PathLike)):
            if labels is not None:
                raise ConfigError("labels with a dataset spec: allowed only with arrays (a spec names its own labels)")
            spec = str(images)
        else:
            spec = f"npz:{cache_arrays(images, labels, self.root)}"
        return resolve_config({**self.settings, "data.dataset": spec}, config_file=self.config, device=self.device,
                              warmup_kick=self.warmup_kick, given_where="as SOM arguments")

    def fit(self, images: Any, labels: Any = None) -> SOM:
        """Train the map on ``images`` (or reuse the stored run of the same settings and images); returns self.

        Parameters
        ----------
        images : ndarray or str
            uint8 or float arrays (N, H, W) or (N, H, W, C) (see :func:`as_uint8_images`), or a dataset spec
            (``digits``, ``mnist:PATH``, ``cifar10``, ``imagefolder:PATH``, ``npz:PATH``; ``urlsom train
            --dataset``).
        labels : array of int, optional
            (N,) class of each image, for arrays: used only to score the map (neural selectivity, the class
            map); the training uses no label.
        """
        from .runs import run_dir, train_run

        cfg, reason = self.config_for(images, labels)
        log = _to_stderr if self.verbose else _quiet
        self.run_ = train_run(cfg, run_dir(cfg, self.root), device=self.device, progress=self.verbose, log=log,
                              defaults_rule=reason)
        self.config_, self.defaults_rule_, self._net = cfg, reason, None
        return self

    def _fitted(self) -> Any:
        if self.run_ is None:
            raise ConfigError("this SOM is not fitted: call fit(images) or SOM.load(DIR) first")
        return self.run_

    # ------------------------------------------------------------------------------------------ mapping
    def _network(self) -> tuple[Any, Any, str]:
        if self._net is None:
            from .distributed import pick_device

            run = self._fitted()
            dev = str(pick_device(self.device))
            self._net = (run.load_model(dev), run_augment(run), dev)
        return self._net

    def _outputs(self, images: Any, softmax: bool) -> dict[str, np.ndarray]:
        run = self._fitted()
        if isinstance(images, (str, os.PathLike)):
            _, x = read_image_files(images, run.config.data.input_size or 32)
        else:
            x = as_uint8_images(images)
        model, aug, dev = self._network()
        return map_images(run, images_for_run(run, x), dev, model=model, aug=aug, softmax=softmax)

    def winner(self, images: Any, readout: bool = False) -> np.ndarray:
        """Each image's winning neuron as (row, column), (N, 2) int64: the network's own (the paper's map).

        ``images``: arrays as :meth:`fit` takes them (one image: add a first axis, ``x[None]``), or the path of
        a folder, a .zip of images or an .npz (:func:`read_image_files`). ``readout``: the winner of the
        readout fitted after training instead (a ConfigError where the run has none)."""
        out = self._outputs(images, softmax=False)
        if not readout:
            return np.stack((out["row"], out["column"]), 1)
        if "readout_winner" not in out:
            raise ConfigError("this SOM has no readout fitted after training (model.usage_balance and "
                              "model.prototype_readout are off): allowed is readout=False")
        return np.stack((out["readout_row"], out["readout_column"]), 1)

    def activation_map(self, images: Any) -> np.ndarray:
        """The map's output for each image, the Softmax of Eq. 1 over the grid, (N, H, W) float32 (each sums to 1).

        Its largest entry is the network's own winner, :meth:`winner`."""
        out = self._outputs(images, softmax=True)
        H, W = self._fitted().config.model.grid
        return out["softmax"].reshape(-1, H, W)

    # --------------------------------------------------------------------------------------- save, load
    def save(self, directory: str | Path) -> Path:
        """Write the fitted map as a run directory (its config, checkpoint, metrics, history, assignments and
        manifest) to ``directory``, a new or empty folder, and return its path. ``urlsom map --run``,
        ``urlsom evaluate --run`` and :meth:`load` read it. Saving where the run already is does nothing."""
        run = self._fitted()
        dest = Path(directory)
        if dest.exists() and dest.resolve() == run.path.resolve():
            return dest
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise ConfigError(f"save {dest}: exists and is not an empty folder; allowed is a new or empty folder")
        if not dest.parent.is_dir():
            raise ConfigError(f"save {dest}: folder {dest.parent} does not exist")
        tmp = dest.parent / f".{dest.name}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            for f in sorted(run.path.iterdir()):  # the run's files; not its lock, temporaries or older checkpoint
                if f.is_file() and not f.name.startswith(".") and f.name != "checkpoint.prev.pt":
                    shutil.copy2(f, tmp / f.name)
            if dest.exists():
                dest.rmdir()
            os.replace(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return dest

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto", verbose: bool = True) -> SOM:
        """The map of a complete run directory (:meth:`save`'s, or ``urlsom train --out``'s)."""
        from .runs import Run

        if not Path(directory).is_dir():
            raise ConfigError(f"run {directory}: does not exist; allowed is a run directory (SOM.save, urlsom train)")
        run = Run.load(directory)
        c = run.config
        som = cls(grid=c.model.grid, epochs=c.train.epochs, seed=c.train.seed, root=Path(directory).parent,
                  device=device, verbose=verbose)
        som.run_, som.config_ = run, c
        return som
