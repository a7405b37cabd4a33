"""The ``openworld`` command line.

Subcommands:
    demo     live a scripted agent through a shifting world and print what each shift did
    worlds   list the registered worlds
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from openworld.demo import format_demo, run_demo

    result = run_demo(world=args.world, agent=args.agent, steps=args.steps, num_envs=args.envs,
                      seed=args.seed, window=args.window)
    print(format_demo(result, window=args.window))
    return 0


def _worlds(args: argparse.Namespace) -> int:
    from openworld.registry import world_entries

    for entry in world_entries():
        print(f"openworld/{entry.world_id:<20} {entry.summary}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openworld", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``openworld`` console script."""
    import openworld  # noqa: F401  (registers the catalogues)
    from openworld.registry import UnknownIdError
    from openworld.spec import SpecError

    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (UnknownIdError, SpecError, ValueError, TypeError) as err:
        print(f"openworld {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
