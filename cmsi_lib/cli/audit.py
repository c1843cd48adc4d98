"""`cmsi audit` (placeholder until its issue lands)."""


def register(sub, common):
    p = sub.add_parser("audit", parents=[common], help="(not built yet)")
    p.set_defaults(func=run)


def run(args):
    raise SystemExit("cmsi audit: not built yet")
