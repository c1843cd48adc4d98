"""`cmsi milky-way` (placeholder until its issue lands)."""


def register(sub, common):
    p = sub.add_parser("milky-way", parents=[common], help="(not built yet)")
    p.set_defaults(func=run)


def run(args):
    raise SystemExit("cmsi milky-way: not built yet")
