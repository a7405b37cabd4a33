"""The ``openworld`` command line.

Subcommands:
    run      one continual lifetime configured with Hydra (``openworld run world=meadow agent=ppo``)
    demo     live a scripted agent through a shifting world and print what each shift did
    worlds   list the registered worlds
    show     write a picture of a world's map and shift schedule (and a clip of a body living a shift)
    score    score run directories' recordings again (summary.json and report), living nothing
    report   tables and plots of scored runs, aggregated across seeds (IQM and 95% CI)
    collect  an agent's lifetime recorded as a Minari dataset (``openworld collect world=meadow dataset=smoke``)
    datasets list the local datasets; ``show <id>`` prints a card; ``strip-rewards <id> <name>`` a reward-free copy;
             ``mix <name> <id>=<fraction>...`` a dataset mixing others in stated proportions
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from openworld.tools.demo import format_demo, run_demo

    result = run_demo(world=args.world, agent=args.agent, steps=args.steps, num_envs=args.envs,
                      seed=args.seed, window=args.window)
    print(format_demo(result, window=args.window))
    return 0


def _worlds(args: argparse.Namespace) -> int:
    from openworld.registry import world_entries

    for entry in world_entries():
        print(f"openworld/{entry.world_id:<20} {entry.summary}")
    return 0


def _agents(args: argparse.Namespace) -> int:
    from openworld.registry import agent_entry, agent_ids

    print(f"{'agent':<22} {'worlds':>6}  summary")
    for agent_id in agent_ids():
        entry = agent_entry(agent_id)
        print(f"{agent_id:<22} {entry.num_envs:>6}  {entry.summary}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from openworld.tools.show import show_world

    for path in show_world(args.world, args.out, variant=args.variant, seed=args.seed, tile=args.tile,
                           gif=args.gif):
        print(path)
    return 0


def _score(args: argparse.Namespace) -> int:
    from pathlib import Path

    from openworld.runner.summary import format_summary, score_run_dir
    from openworld.scoring.runs import find_run_directories

    try:
        scored, unscored = find_run_directories(args.dirs)
    except FileNotFoundError as err:
        raise ValueError(str(err)) from err
    directories = [*scored, *unscored] or [Path(args.dirs[0])]  # none found: the error names the first
    for directory in directories:
        summary, report_dir = score_run_dir(directory, window=args.window, tolerance=args.tolerance,
                                            report=args.report)
        print(format_summary(summary, directory, report_dir), flush=True)
    return 0


def _report(args: argparse.Namespace) -> int:
    from openworld.scoring.report import write_report
    from openworld.scoring.runs import find_run_directories
    from openworld.scoring.summary import rescore

    try:
        if args.rescore:  # openworld score, without the per-run reports
            for directory in find_run_directories(args.dirs)[0]:
                rescore(directory)
        written = write_report(args.dirs, args.out, reps=args.reps, seed=args.seed, plots=not args.no_plots,
                               baseline=args.baseline)
    except FileNotFoundError as err:
        raise ValueError(str(err)) from err
    for path in written:
        print(path)
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from openworld.data.datasets import format_card, format_listing, list_datasets, strip_rewards
    from openworld.data.store import dataset_card

    if args.action == "show":
        print(format_card(dataset_card(args.id)))
    elif args.action == "strip-rewards":
        print(strip_rewards(args.id, args.name, overwrite=args.overwrite))
    elif args.action == "mix":
        from openworld.data.mix import mix_datasets, parse_sources

        print(mix_datasets(args.name, parse_sources(args.sources), steps=args.steps, seed=args.seed,
                           overwrite=args.overwrite))
    else:
        print(format_listing(list_datasets()))
    return 0


def _priors(args: argparse.Namespace) -> int:
    from openworld.prior.format import read_prior_header
    from openworld.prior.listing import format_header, format_kinds, format_store

    if args.action == "show":
        print(format_header(read_prior_header(args.prior)))
    elif args.action == "kinds":
        print(format_kinds())
    else:
        print(format_store())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openworld", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)

    # Listed for --help only: main() hands `openworld run ...` to Hydra before argparse sees it.
    run = commands.add_parser("run", help="one continual lifetime (Hydra overrides follow, e.g. world=meadow)",
                              add_help=False)
    run.add_argument("overrides", nargs=argparse.REMAINDER, help="Hydra overrides; --help for Hydra's help")

    demo = commands.add_parser("demo", help="live a scripted agent through a shifting world")
    demo.add_argument("--world", default="Shiftlands-v0", help="world id (default: %(default)s)")
    demo.add_argument("--agent", default="forager", help="agent id (default: %(default)s)")
    demo.add_argument("--steps", type=int, default=17_500, help="world steps to live (default: %(default)s)")
    demo.add_argument("--envs", type=int, default=4, help="worlds lived in at once (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    demo.add_argument("--window", type=int, default=500, help="steps averaged around a shift (default: %(default)s)")
    demo.set_defaults(handler=_demo)

    worlds = commands.add_parser("worlds", help="list the registered worlds")
    worlds.set_defaults(handler=_worlds)

    agents = commands.add_parser("agents", help="list the registered agents (default worlds at once, summary)")
    agents.set_defaults(handler=_agents)

    show = commands.add_parser("show", help="write a PNG of a world's map and shift schedule (--gif: a clip)")
    show.add_argument("world", help="world id or name, e.g. Seasons or seasons")
    show.add_argument("--variant", default=None, help="a variant of the world, e.g. quick or heldout_early")
    show.add_argument("--out", default=".", help="directory to write to (default: %(default)s)")
    show.add_argument("--seed", type=int, default=0, help="world seed (default: %(default)s)")
    show.add_argument("--tile", type=int, default=8, help="pixels per map cell (default: %(default)s)")
    show.add_argument("--gif", action="store_true",
                      help="also write a GIF of a scripted agent living through the first shift "
                           "(lives from step 0: use --variant quick for a short wait)")
    show.set_defaults(handler=_show)

    score = commands.add_parser("score", help="score run directories again from their recordings (summary.json, "
                                "report/), living nothing: a run without a summary, or with an older one")
    score.add_argument("dirs", nargs="+", metavar="DIR", help="run directories, or folders searched for them")
    score.add_argument("--window", type=int, default=None, help="W of the scores (default: the run's metrics.window)")
    score.add_argument("--tolerance", type=float, default=None,
                       help="eps of the scores (default: the run's metrics.tolerance)")
    score.add_argument("--report", choices=("plots", "tables", "off"), default=None,
                       help="the run's report/ folder (default: the run's report setting)")
    score.set_defaults(handler=_score)

    report = commands.add_parser("report", help="tables and plots of scored runs (IQM and 95%% CI across seeds)")
    report.add_argument("dirs", nargs="+", metavar="DIR",
                        help="run directories (holding summary.json), or folders searched for them")
    report.add_argument("--out", default="report", help="output folder (default: ./%(default)s)")
    report.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default: %(default)s)")
    report.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: %(default)s)")
    report.add_argument("--no-plots", action="store_true", help="write the tables only")
    report.add_argument("--baseline", metavar="AGENT", default=None,
                        help="also compare every agent with this one in each world (as the report names agents, "
                             "e.g. ppo-v0): difference of means and P(better)")
    report.add_argument("--rescore", action="store_true",
                        help="score each scored run's recording again with today's scores first, keeping the rest "
                             "of its summary.json (openworld score does this and scores runs without a summary)")
    report.set_defaults(handler=_report)

    # Listed for --help only: main() hands `openworld collect ...` to Hydra, as it does `run`.
    collect = commands.add_parser("collect", help="an agent's lifetime as a Minari dataset (Hydra overrides: "
                                  "world=meadow agent=forager steps=N dataset=<name>)", add_help=False)
    collect.add_argument("overrides", nargs=argparse.REMAINDER, help="Hydra overrides; --help for Hydra's help")

    datasets = commands.add_parser("datasets", help="list local openworld datasets (show <id>: one card; "
                                   "strip-rewards <id> <name>: a copy without rewards)")
    actions = datasets.add_subparsers(dest="action")
    show_card = actions.add_parser("show", help="print a dataset's card")
    show_card.add_argument("id", help="a dataset id, e.g. openworld/meadow/smoke-v0")
    strip = actions.add_parser("strip-rewards", help="copy a dataset without rewards (NaN; card rewards: false)")
    strip.add_argument("id", help="the dataset to copy")
    strip.add_argument("name", help="the copy's name: openworld/<world>/<name>-v0")
    strip.add_argument("--overwrite", action="store_true", help="replace an existing dataset with that id")
    mix = actions.add_parser("mix", help="a dataset mixing others in stated proportions of their steps (the "
                             "garbage heap)")
    mix.add_argument("name", help="the mix's name: openworld/<world>/<name>-v0")
    mix.add_argument("sources", nargs="+", metavar="ID=FRACTION", help="source datasets and their shares (sum 1)")
    mix.add_argument("--steps", type=int, default=None, help="the mix's steps (default: as many as the sources allow)")
    mix.add_argument("--seed", type=int, default=0, help="the order each source's episodes are taken in")
    mix.add_argument("--overwrite", action="store_true", help="replace an existing dataset with that id")
    datasets.set_defaults(handler=_datasets)

    # Listed for --help only: main() hands `openworld pretrain ...` to Hydra, as it does `run`.
    pretrain = commands.add_parser("pretrain", help="train a prior and save it (Hydra overrides: prior=bc "
                                   "dataset=<id> out=<path>, or prior=diayn world=meadow steps=N out=<path>)",
                                   add_help=False)
    pretrain.add_argument("overrides", nargs=argparse.REMAINDER, help="Hydra overrides; --help for Hydra's help")

    # Listed for --help only, as pretrain.
    pipeline = commands.add_parser("pipeline", help="an experiment run stage by stage, resumably: collect, pretrain, "
                                   "live, report (Hydra overrides: experiment=prior_bootstrap)", add_help=False)
    pipeline.add_argument("overrides", nargs=argparse.REMAINDER, help="Hydra overrides; --help for Hydra's help")

    priors = commands.add_parser("priors", help="list the priors in the local store (kinds: the kinds of prior; "
                                 "show <path or id>: a prior file's header)")
    prior_actions = priors.add_subparsers(dest="action")
    prior_actions.add_parser("kinds", help="the registered kinds of prior")
    show_prior = prior_actions.add_parser("show", help="print a prior file's header (kind, config, spaces, "
                                          "datasets, figures)")
    show_prior.add_argument("prior", help="a prior file's path or a store id, e.g. meadow-bc-v0")
    priors.set_defaults(handler=_priors)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``openworld`` console script."""
    from openworld.plugins import load_plugins

    load_plugins("openworld.worlds")  # registers the catalogues
    from openworld.errors import DatasetError, PriorError, RunError, SpecError, UnknownIdError

    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["run"]:  # Hydra parses its own arguments (-m, --cfg, --help...): argparse would refuse them
        from openworld.runner import hydra_main

        return hydra_main(arguments[1:])
    if arguments[:1] == ["collect"]:
        from openworld.data.app import collect_main

        return collect_main(arguments[1:])
    if arguments[:1] == ["pretrain"]:
        from openworld.prior.app import pretrain_main

        return pretrain_main(arguments[1:])
    if arguments[:1] == ["pipeline"]:
        from openworld.tools.pipeline_app import pipeline_main

        return pipeline_main(arguments[1:])
    args = build_parser().parse_args(arguments)
    try:
        return int(args.handler(args))
    except (UnknownIdError, SpecError, RunError, DatasetError, PriorError, ValueError, TypeError) as err:
        print(f"openworld {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
