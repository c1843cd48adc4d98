"""`cmsi data` (placeholder until its issue lands)."""


def register(sub, common):
    p = sub.add_parser("data", parents=[common], help="(not built yet)")
    p.set_defaults(func=run)


def run(args):
    raise SystemExit("cmsi data: not built yet")
