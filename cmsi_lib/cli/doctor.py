"""`cmsi doctor`: the set-up checked, with what to do about anything wrong.

    cmsi doctor           one line per check (data mirror and checksums, versions, tools, places),
                          then the problems with what to do
    cmsi doctor --json    {"findings": [{section, name, status, detail, fix}], "problems": N, "exit_status": S}

Exit status: 0 when everything needed is fine (warnings allowed), 1 when a check failed.
"""

from __future__ import annotations

import sys

from .. import doctor
from . import print_json

_MARK = {"ok": "ok", "info": "--", "warn": "WARN", "fail": "FAIL"}


def register(sub, common):
    p = sub.add_parser(
        "doctor",
        parents=[common],
        help="check the set-up: data mirror and checksums, versions, Chromium, npm, where results live",
        description=__doc__.split("\n\n", 1)[0],
    )
    p.set_defaults(func=run)


def run(args) -> int:
    if args.params or args.overrides:
        print(
            "cmsi doctor: the set-up does not depend on CMSI parameters; --params/--set do not apply", file=sys.stderr
        )
        return 2
    findings = doctor.diagnose()
    status = doctor.exit_status(findings)
    problems = [f for f in findings if f.status in ("warn", "fail")]
    if args.json:
        print_json(
            {
                "findings": [f.as_dict() for f in findings],
                "problems": sum(f.status == "fail" for f in findings),
                "exit_status": status,
            }
        )
        return status
    for section in dict.fromkeys(f.section for f in findings):
        rows = [f for f in findings if f.section == section]
        width = max(len(f.name) for f in rows)
        print(f"\n{section}")
        for f in rows:
            print(f"  {_MARK[f.status]:<4}  {f.name:<{width}}  {f.detail}")
    print()
    if not problems:
        print("cmsi doctor: everything needed is in place")
        return status
    for f in problems:
        print(f"{_MARK[f.status]}  {f.name}: {f.detail}\n      what to do: {f.fix}")
    n_fail = sum(f.status == "fail" for f in problems)
    verdict = f"{n_fail} problem(s) to fix" if n_fail else "everything needed is in place"
    print(f"\ncmsi doctor: {verdict}; {len(problems) - n_fail} warning(s)")
    return status
