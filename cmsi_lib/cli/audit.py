"""`cmsi audit`: execute the derivation chapters headless and report every check.

    cmsi audit                 one line per check: chapter, name, PASS/FAIL, the quantity compared
    cmsi audit --json          the same as a JSON list of {chapter, name, passed, quantity}
    cmsi audit --jobs 1 FILE.md ...   run given chapters, one at a time

Exit status: 0 when every check passed and every chapter ran; 1 otherwise.
The derivation chapters work at the seed's default parameters, so --params/--set are refused.
"""

from __future__ import annotations

import sys

from ..audit import run_audit
from . import print_json


def register(sub, common):
    p = sub.add_parser(
        "audit",
        parents=[common],
        help="execute the derivation chapters headless and report every check (exit 1 on any failure)",
        description=__doc__.split("\n\n", 1)[0],
    )
    p.add_argument(
        "chapters",
        nargs="*",
        metavar="CHAPTER.md",
        help="MyST-markdown chapters to audit (default: every chapter of chapters/derivation)",
    )
    p.add_argument("--jobs", type=int, default=2, metavar="N", help="chapters executed in parallel (default 2)")
    p.add_argument(
        "--timeout", type=float, default=600, metavar="SECONDS", help="per-cell execution timeout (default 600)"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    if args.params or args.overrides:
        print(
            "cmsi audit: the derivation chapters are checked at the seed's defaults; --params/--set do not apply",
            file=sys.stderr,
        )
        return 2
    if args.jobs < 1:
        print(f"cmsi audit: --jobs must be >= 1, got {args.jobs}", file=sys.stderr)
        return 2
    try:
        records = run_audit(args.chapters or None, jobs=args.jobs, timeout=args.timeout)
    except FileNotFoundError as exc:
        print(f"cmsi audit: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(records)
    else:
        width = max(len(r["chapter"]) for r in records)
        for r in records:
            status = "PASS" if r["passed"] else "FAIL"
            print(f"{r['chapter']:<{width}}  {status}  {r['name']}  [{r['quantity']}]")
        n_fail = sum(not r["passed"] for r in records)
        n_checks = sum(r["name"] != "<execution>" for r in records)
        print(
            f"{n_checks} checks in {len({r['chapter'] for r in records})} chapters; "
            + ("all passed" if n_fail == 0 else f"{n_fail} FAILED")
        )
    return 1 if any(not r["passed"] for r in records) else 0
