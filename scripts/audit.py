"""Hostile-input and fault audit of xbar (issue 15): run every case, record each outcome.

Each case feeds xbar one bad input or fault -- a netlist, an API call, a corrupt file, a CLI
flag, a sweep that is killed or doubled -- and classifies what happened:

``clean``
    an :class:`xbar.XbarError` (in the CLI: exit code 2, ``error:`` on stderr, no traceback)
    whose message names the culprit (every needle of the case is in it), or, for inputs
    that are valid, the right answer;
``vague``
    an XbarError whose message misses the culprit;
``raw``
    any other exception (a traceback), or CLI exit code 70;
``silent``
    a bad input accepted, or a wrong answer;
``hang``
    no answer within the case's time limit.

Usage::

    python scripts/audit.py                 # every case, a table and the counts
    python scripts/audit.py --kind netlist  # one kind: netlist, api, file, cli, sweep
    python scripts/audit.py --json out.json # the outcomes as JSON

The audit writes only into a temporary folder.  It exits 1 if any case is not clean.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit_cases import all_cases  # noqa: E402

from xbar.errors import XbarError  # noqa: E402


@dataclass
class Outcome:
    kind: str
    name: str
    status: str
    detail: str = ""
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):  # pragma: no cover - only on a hang
    raise _Timeout()


def run_case(case, tmp: Path) -> Outcome:
    """Run one case with its time limit; classify what happened."""
    start = time.perf_counter()
    cwd = os.getcwd()
    os.chdir(tmp)  # commands that write a default file (sweep.csv) write it here
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(case.timeout)
    try:
        status, detail = case.run(tmp)
    except _Timeout:
        status, detail = "hang", f"no answer in {case.timeout} s"
    except XbarError as err:
        status, detail = case.judge_error(err)
    except BaseException as exc:  # noqa: BLE001 - the audit records everything
        tb = traceback.extract_tb(exc.__traceback__)
        where = f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "?"
        status, detail = "raw", f"{type(exc).__name__}: {str(exc)[:160]} ({where})"
    finally:
        signal.alarm(0)
        os.chdir(cwd)
    return Outcome(case.kind, case.name, status, detail, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", help="only cases of this kind")
    parser.add_argument("--name", help="only cases whose name contains this")
    parser.add_argument("--json", help="write the outcomes here")
    parser.add_argument("--quiet", action="store_true", help="only the non-clean cases")
    args = parser.parse_args(argv)
    cases = [
        c
        for c in all_cases()
        if (args.kind is None or c.kind == args.kind) and (args.name is None or args.name in c.name)
    ]
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="xbar-audit-") as tmp:
        for i, case in enumerate(cases):
            work = Path(tmp) / f"case{i}"
            work.mkdir()
            with contextlib.redirect_stdout(io.StringIO()):
                o = run_case(case, work)
            outcomes.append(o)
            if not args.quiet or o.status != "clean":
                print(f"{o.status:7s} {o.kind:8s} {o.name:48s} {o.detail[:110]}", flush=True)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    print(
        f"\n{len(outcomes)} cases: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    )
    if args.json:
        Path(args.json).write_text(json.dumps([o.__dict__ for o in outcomes], indent=1))
    return 0 if counts.get("clean", 0) == len(outcomes) else 1


if __name__ == "__main__":
    os.environ.setdefault("XBAR_THREADS", "1")
    sys.exit(main())
