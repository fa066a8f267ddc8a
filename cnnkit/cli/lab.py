"""``cnnkit lab list | run NAME | report``: the study text's claims as reproducible experiments."""
from __future__ import annotations

import argparse
import json
import os
import sys

EPILOG = """examples:
  cnnkit lab list
  cnnkit lab run stacking --quick                  # minutes, 2 seeds
  cnnkit lab run all --workers 2                   # every experiment, full configuration
  cnnkit lab run pooling --backend ray             # Ray: $RAY_ADDRESS, or a local cluster
  cnnkit lab run normalization --resume            # after Ctrl-C: only the missing runs
  cnnkit lab run dilation --set epochs=5 --seeds 3
  cnnkit lab report --out runs/lab                 # -> docs/LAB.md and docs/lab/*.png
"""


def _setting(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set takes KEY=VALUE (e.g. epochs=3), got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value  # a plain string


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text!r}")
    return n


def register(subparsers) -> None:
    p = subparsers.add_parser("lab", help="the study text's claims as experiments: list, run, report",
                              description="Run the study text's claims as seeded, repeated experiments: each writes "
                                          "OUT/NAME/results.json and figure.png; `report` gathers them into docs/LAB.md.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="lab_command", metavar="ACTION")
    sub.add_parser("list", help="one line per experiment: name, claim, what is measured").set_defaults(func=run_list)
    r = sub.add_parser("run", help="run one experiment (or all)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("name", metavar="NAME", help="an experiment (`cnnkit lab list`) or `all`")
    size = r.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", const="quick", dest="profile",
                      help="the quick configuration (minutes; fewer samples, epochs, seeds)")
    size.add_argument("--tiny", action="store_const", const="tiny", dest="profile",
                      help="the tiny configuration (seconds; checks the set-up, numbers mean nothing)")
    r.add_argument("--seeds", type=_positive, default=None, help="number of seeds (default: the configuration's)")
    r.add_argument("--out", default="runs/lab", help="results folder (default runs/lab)")
    r.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: a process pool (default); ray: $RAY_ADDRESS or a local Ray cluster")
    r.add_argument("--workers", type=_positive, default=2, help="parallel runs, one CPU each (default 2)")
    r.add_argument("--resume", action="store_true", help="keep the finished runs in OUT/NAME/runs, run the rest")
    r.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                   help="change one configuration key (JSON value), e.g. --set epochs=2; repeatable")
    r.add_argument("--data-dir", default=None, help="folder holding mnist/ and mr/ (default: $CNNKIT_DATA)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.set_defaults(func=run_run, profile="full")
    rep = sub.add_parser("report", help="write docs/LAB.md from the results")
    rep.add_argument("--out", default="runs/lab", help="results folder (default runs/lab)")
    rep.add_argument("--doc", default="docs/LAB.md", help="the report to write (default docs/LAB.md); figures go "
                                                          "to lab/ beside it")
    rep.set_defaults(func=run_report)
    p.set_defaults(func=lambda args: p.print_help() or 0)


def run_list(args: argparse.Namespace) -> int:
    from ..lab.experiments import EXPERIMENTS

    for name, exp in EXPERIMENTS.items():
        print(f"{name:15s} {exp.claim}. Measured: {exp.measures}")
    return 0


def run_run(args: argparse.Namespace) -> int:
    from ..lab.experiments import EXPERIMENTS, get_experiment
    from ..lab.runner import run_experiment

    names = list(EXPERIMENTS) if args.name == "all" else [get_experiment(args.name).name]
    if args.data_dir is not None:
        if not os.path.isdir(args.data_dir):
            raise FileNotFoundError(f"--data-dir {args.data_dir} is not a folder")
        os.environ["CNNKIT_DATA"] = os.path.abspath(args.data_dir)  # the workers inherit it
    overrides = dict(args.set)
    if args.name == "all":  # each key goes to the experiments that have it
        keys = {k for n in names for k in get_experiment(n).config(args.profile)}
        unknown = sorted(set(overrides) - keys)
        if unknown:
            raise ValueError(f"--set: no experiment has the config keys {unknown}")
    for name in names:
        mine = {k: v for k, v in overrides.items() if args.name != "all" or k in get_experiment(name).config()}
        try:
            result = run_experiment(name, profile=args.profile, seeds=args.seeds, out=args.out, backend=args.backend,
                                    workers=args.workers, resume=args.resume, overrides=mine,
                                    progress=not args.no_progress)
        except KeyboardInterrupt:  # outside the runs (loading data, writing results): nothing half-written
            result = {"status": "interrupted"}
            print(f"cnnkit lab: {name} interrupted", file=sys.stderr)
        if result.get("status") == "interrupted":
            return 130
    return 0


def run_report(args: argparse.Namespace) -> int:
    from ..lab.report import write_report

    path = write_report(args.out, args.doc)
    print(f"wrote {path} (figures in {path.parent / 'lab'})")
    return 0
