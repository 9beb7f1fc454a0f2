"""``xbar validate``: run the validation suite and print (or write) its report."""

from __future__ import annotations

import json
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "validate",
        help="run the validation suite (analytic cases and ngspice cross-checks)",
        description=(
            "Run every validation case: xbar against closed forms, root-finds, dense "
            "textbook solves, conservation laws and ngspice on the same netlists. Prints a "
            "table; exits 1 if any case fails (skipped ngspice cases do not fail)."
        ),
    )
    p.add_argument("--json", action="store_true",
                   help='print {"cases": [...]} as JSON instead of the table')
    p.add_argument("--out", metavar="DIR",
                   help="write report.md and PNG figures into DIR")
    p.add_argument("--quick", action="store_true",
                   help="only the quick set (the cases the default pytest run uses)")
    p.add_argument("--case", metavar="PATTERN",
                   help="only cases whose name matches PATTERN (glob, or a substring)")
    p.add_argument("--list", action="store_true", help="list the selected cases and exit")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import ConfigError
    from ..validation import ERROR, FAILED, run_cases, select_cases
    from ..validation.report import format_table, to_json, write_report
    from ._progress import ProgressBar

    cases = select_cases(args.case, quick=args.quick)
    if not cases:
        raise ConfigError(f"no validation case matches {args.case!r}",
                          hint="`xbar validate --list` shows the case names")
    if args.list:
        for c in cases:
            print(f"{c.name:48s} {c.kind:9s} {c.reference}")
        return 0
    bar = ProgressBar("validate")
    outcomes = run_cases(cases, progress=bar)
    if args.out:
        path = write_report(outcomes, args.out)
        print(f"report written to {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(to_json(outcomes), indent=2))
    else:
        print(format_table(outcomes))
    return 1 if any(o.status in (FAILED, ERROR) for o in outcomes) else 0
