"""`cmsi survey` (placeholder until its issue lands)."""


def register(sub, common):
    p = sub.add_parser("survey", parents=[common], help="(not built yet)")
    p.set_defaults(func=run)


def run(args):
    raise SystemExit("cmsi survey: not built yet")
