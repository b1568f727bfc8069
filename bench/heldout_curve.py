"""Held-out NS during training, every ``--every`` epochs, for one config and several seeds.

One run's final held-out NS is a noisy number: on digits it moves by +-0.02 from one 5-epoch checkpoint to
the next, as much as most settings differ. This script scores the map on the held-out split while it trains
(the model is evaluated, then training goes on unchanged: no early stopping or model selection uses the
held-out labels) and prints, per seed, the held-out NS at each checkpoint, at the end, and its mean over the
last ``--tail`` checkpoints, a steadier figure to compare settings by.

    .venv/bin/python bench/heldout_curve.py --config bench/configs/digits_heldout.yaml --seeds 0 1 \\
        --out bench/results/curves/digits_heldout

``--config`` is a YAML file with data/model/train sections (``urlsom train --config``); it must give a held-out
split (``data.holdout`` or ``data.eval_dataset``). ``--set section.field=VALUE`` changes it. Nothing is stored in
the run store; the curve, the final metrics and the provenance go to ``--out``/curves.json and curves.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

EXIT_BAD_INPUT = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="YAML file with data/model/train sections (as urlsom train --config)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="section.field=VALUE",
                   help="change the config (YAML value), e.g. train.epochs=2")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds, one run each (default 0)")
    p.add_argument("--every", type=int, default=5, help="score every this many epochs (default 5)")
    p.add_argument("--tail", type=int, default=5, help="average the last this many checkpoints (default 5)")
    p.add_argument("--out", required=True, help="folder for curves.json and curves.md")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    return p.parse_args(argv)


def load_config(path: str, overrides: list[str]) -> Any:
    from urlsom_core.config import ConfigError, parse_overrides
    from urlsom_core.defaults import config_from_file

    cfg = config_from_file(path)
    dotted = parse_overrides(overrides)
    cfg = cfg.replace(**dotted) if dotted else cfg
    if not (cfg.data.holdout or cfg.data.eval_dataset):
        raise ConfigError(f"--config {path}: gives no held-out split; allowed is data.holdout > 0 or data.eval_dataset")
    return cfg


def curve(cfg: Any, every: int, log: Any) -> dict[str, Any]:
    """Train ``cfg`` once, scoring held-out NS every ``every`` epochs and at the end."""
    from urlsom_core.data import resolve
    from urlsom_core.evaluation import evaluate
    from urlsom_core.train import Trainer

    splits = resolve(cfg.data)
    points: list[dict[str, Any]] = []
    trainer: Trainer

    def score(epoch: int) -> dict[str, Any]:
        """The run store's own metrics (``evaluation.evaluate``: the network's own winners) of the model as it is now."""
        m = evaluate(cfg, trainer.model, trainer.aug, trainer.device, splits.train, splits.heldout)[0]
        return {"epoch": epoch, "heldout_ns": round(m["heldout_neural_selectivity"], 5),
                "ns": round(m["neural_selectivity"], 5), "live": int(m["active_neurons"]),
                "te": round(m["topographic_error"], 5)}

    def on_epoch(row: dict[str, Any]) -> None:
        if (row["epoch"] + 1) % every == 0:
            points.append(score(row["epoch"] + 1) | {"loss": round(row["loss"], 5)})
            log(f"  seed {cfg.train.seed} epoch {points[-1]['epoch']}: held-out NS {points[-1]['heldout_ns']:.4f}, "
                f"live {points[-1]['live']}")

    t0 = time.time()
    trainer = Trainer(cfg, splits, device="cpu", progress=False, on_epoch=on_epoch, log=log)
    res = trainer.fit()
    final = score(res.epochs)
    return {"seed": cfg.train.seed, "points": points, "final": final, "stop_reason": res.stop_reason,
            "wall_seconds": round(time.time() - t0, 1)}


def markdown(res: dict[str, Any], tail: int) -> str:
    lines = [f"Held-out NS during training, config `{res['config_file']}`"
             + (f" with {' '.join(res['overrides'])}" if res["overrides"] else "") + ":", "",
             "| seed | epochs | stop | final held-out NS | mean of last checkpoints | live | TE |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for c in res["curves"]:
        last = [p["heldout_ns"] for p in c["points"][-tail:]]
        mean = f"{sum(last) / len(last):.4f} ({len(last)})" if last else "n/a"
        f = c["final"]
        lines.append(f"| {c['seed']} | {f['epoch']} | {c['stop_reason']} | {f['heldout_ns']:.4f} | {mean} | {f['live']} | {f['te']:.3f} |")
    finals = [c["final"]["heldout_ns"] for c in res["curves"]]
    lines += ["", f"Mean final held-out NS over {len(finals)} seed(s): **{sum(finals) / len(finals):.4f}**.", "",
              "Checkpoints (epoch: held-out NS): " + "; ".join(
                  f"seed {c['seed']}: " + ", ".join(f"{p['epoch']}: {p['heldout_ns']:.3f}" for p in c["points"])
                  for c in res["curves"]), "",
              f"Made by `{res['command']}` in {res['wall_seconds']:.0f} s (git {res['provenance']['git_commit']}, "
              f"{res['provenance']['torch_threads']} torch thread(s)).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from urlsom_core.config import ConfigError
    from urlsom_core.files import provenance, write_json

    def log(s: str) -> None:
        print(s, file=sys.stderr, flush=True)

    try:
        if args.every < 1:
            raise ConfigError(f"--every {args.every}: allowed is an integer >= 1")
        if args.tail < 1:
            raise ConfigError(f"--tail {args.tail}: allowed is an integer >= 1")
        if args.threads < 1:
            raise ConfigError(f"--threads {args.threads}: allowed is an integer >= 1")
        if any(s < 0 for s in args.seeds):
            raise ConfigError(f"--seeds {' '.join(map(str, args.seeds))}: allowed are integers >= 0")
        cfg = load_config(args.config, args.overrides)
    except ConfigError as e:
        print(f"heldout_curve: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.time()
    curves = [curve(cfg.replace(**{"train.seed": s}), args.every, log) for s in args.seeds]
    res = {"config_file": args.config, "overrides": args.overrides, "config": cfg.to_dict(), "curves": curves,
           "every": args.every, "command": "python bench/heldout_curve.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "wall_seconds": round(time.time() - t0, 1), "provenance": provenance("cpu", cfg.train.seed)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "curves.json", res)
    md = markdown(res, args.tail)
    (out / "curves.md").write_text(md)
    print(md, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
