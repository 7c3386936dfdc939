"""The rule pack linter: reads every rule's PromQL with promql-parser (the Rust parser of
GreptimeDB's, with Python bindings), not with regexes, and checks what promtool does not:

- every alert has `for` or `keep_firing_for` (a bare `for: 0s` only on an expression without
  series, such as Watchdog's `vector(1)`), so it states how it survives a failed scrape;
- a counter's value is read only through rate, irate, increase or resets, or as the exact count
  `last_over_time(c[t]) - last_over_time(c[t] offset w)`; the right-hand side of `and` and
  `unless` reads no value (only which series exist), so a counter may appear there;
- no regex matcher where equality works: only `le` (bucket bounds are written "1", "1.0", ...);
- every metric an expression names exists in the contract (docs/governance-api.md,
  docs/evidence-export.md, the self-monitoring table of docs/rule-pack.md) or is recorded by the pack.

    python3 tests/rules/lint.py RULE_FILE...      exit 1 and one line per problem
"""

import re
import sys
from pathlib import Path

import promql_parser as pp
import yaml

ROOT = Path(__file__).resolve().parents[2]
VALUE_FUNCTIONS = {"rate", "irate", "increase", "resets"}
REGEX_LABELS = {"le"}
TABLE_ROW = re.compile(r"^\| `([a-z_:]+)(?:\{[a-z_,]+\})?` \| (gauge|counter|histogram) \|", re.M)


def contract():
    """{metric: type} from the contract's tables; a histogram gives its _bucket, _count, _sum."""
    types = {}
    for doc in ("docs/governance-api.md", "docs/evidence-export.md", "docs/rule-pack.md"):
        for name, kind in TABLE_ROW.findall((ROOT / doc).read_text()):
            if kind == "histogram":
                types.update({f"{name}_bucket": "counter", f"{name}_count": "counter", f"{name}_sum": "counter"})
            else:
                types[name] = kind
    return types


def _is_counter(name, types):
    return types.get(name) == "counter" or name.endswith("_total")


def _exact_count(node):
    """`last_over_time(c[t]) - last_over_time(c[t] offset w)` over one counter."""

    def counter_of(side):
        if isinstance(side, pp.ParenExpr):
            side = side.expr
        if isinstance(side, pp.Call) and side.func.name == "last_over_time" and isinstance(side.args[0], pp.MatrixSelector):
            return side.args[0].vector_selector
        return None

    lhs, rhs = counter_of(node.lhs), counter_of(node.rhs)
    return str(node.op) == "-" and lhs is not None and rhs is not None and lhs.name == rhs.name and rhs.offset is not None and lhs.offset is None


def problems_in(expr, types, recorded):
    """Problems of one expression, each a short sentence."""
    found = []

    def walk(node, reads_value):
        if isinstance(node, pp.VectorSelector):
            name = node.name or ""
            if name not in types and name not in recorded:
                found.append(f"{name or 'a selector without a name'} is not in the contract")
            if reads_value and _is_counter(name, types):
                found.append(f"counter {name} is read outside rate/irate/increase/resets and the exact count")
            for matcher in node.matchers.matchers:
                if matcher.op in (pp.MatchOp.Re, pp.MatchOp.NotRe) and matcher.name not in REGEX_LABELS:
                    found.append(f'regex matcher {matcher.name}=~"{matcher.value}" where equality works')
        elif isinstance(node, pp.MatrixSelector):
            walk(node.vector_selector, reads_value)
        elif isinstance(node, pp.Call):
            inner = reads_value and node.func.name not in VALUE_FUNCTIONS
            for arg in node.args:
                walk(arg, inner)
        elif isinstance(node, pp.BinaryExpr):
            if _exact_count(node):
                walk(node.lhs, False)
                walk(node.rhs, False)
            else:
                walk(node.lhs, reads_value)
                walk(node.rhs, reads_value and str(node.op) not in ("and", "unless"))
        elif isinstance(node, pp.AggregateExpr):
            walk(node.expr, reads_value)
            if node.param is not None:
                walk(node.param, reads_value)
        elif isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
            walk(node.expr, reads_value)

    try:
        tree = pp.parse(expr)
    except Exception as err:  # the parser raises its own exception types; the message is what matters
        return [f"does not parse: {err}"]
    walk(tree, True)
    return found


def _has_series(expr):
    found = []

    def walk(node):
        if isinstance(node, pp.VectorSelector):
            found.append(node)
        for child in ("expr", "lhs", "rhs", "vector_selector", "param"):
            value = getattr(node, child, None)
            if isinstance(value, pp.Expr):
                walk(value)
        for arg in getattr(node, "args", None) or []:
            walk(arg)

    walk(pp.parse(expr))
    return bool(found)


def lint(rule_files, types=None):
    """Every problem of the rule files, as `<file>: <rule>: <problem>` lines."""
    types = contract() if types is None else types
    rules = []
    for path in rule_files:
        for group in yaml.safe_load(Path(path).read_text())["groups"]:
            rules += [(Path(path).name, rule) for rule in group["rules"]]
    recorded = {rule["record"] for _name, rule in rules if "record" in rule}
    out = []
    for file, rule in rules:
        name = rule.get("alert") or rule.get("record")
        issues = problems_in(str(rule["expr"]), types, recorded)
        if "alert" in rule:
            held = str(rule.get("for", "")) not in ("", "0", "0s") or "keep_firing_for" in rule
            if not held and not ("for" in rule and not _has_series(str(rule["expr"]))):
                issues.append("has neither `for` nor `keep_firing_for`: one failed scrape resolves it")
        out += [f"{file}: {name}: {issue}" for issue in dict.fromkeys(issues)]
    return out


if __name__ == "__main__":
    errors = lint(sys.argv[1:])
    print("\n".join(errors) or f"{len(sys.argv) - 1} rule files: no problems")
    sys.exit(1 if errors else 0)
