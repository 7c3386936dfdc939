"""The queries of a Grafana dashboard's panels, with its variables replaced by values, for the
tests that parse them (tests/functional/test_dashboard.py) and run them against Prometheus (Molecule)."""

import re

# Grafana's built-in interval variables, as a test fixes them: about the rate window Grafana picks
# for a day's range, and a range that covers all the data a test Prometheus holds.
BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}


def panels(dashboard):
    """Every panel, including those inside collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def substitute(expr, values):
    """`$name` and `${name}` replaced from `values`; an unknown variable is an error, never left in."""

    def value(match):
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no value for dashboard variable ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def queries(dashboard, values):
    """(panel title, refId, expr) of every target of every panel, variables replaced."""
    values = {**BUILTINS, **values}
    return [
        (panel.get("title", ""), target.get("refId", ""), substitute(target["expr"], values))
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]
