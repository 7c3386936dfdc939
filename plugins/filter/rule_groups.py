# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# No DOCUMENTATION here: ansible-doc would show it for every filter of this file. Each filter's
# documentation is in the file named after it beside this one (rule_groups.yml, le_regex.yml, ...).
# Galaxy's importer lists rule_groups twice (this file and rule_groups.yml, both with its doc); under
# another name this file would be listed as a filter that does not exist.

import math
import re

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display
from ansible_collections.brain.ops_assurance.plugins.module_utils._capabilities import DEPRECATED_DIALECTS, deprecated_dialect

OVERRIDABLE = {"for", "expr", "labels", "annotations", "keep_firing_for", "runbook"}


def runbook_url(base, alert):
    return f"{base.rstrip('/')}/alerting-policy.md#{alert.lower()}"


def rule_groups(groups, disabled=None, overrides=None, runbook_base_url="", keep_runbook=False):
    if not isinstance(disabled or [], (list, tuple)) or not isinstance(overrides or {}, dict):
        raise AnsibleFilterError("rule_groups: 'disabled' must be a list of alert names and 'overrides' a dict")
    disabled = set(disabled or [])
    overrides = dict(overrides or {})
    if not isinstance(groups, list) or not all(isinstance(g, dict) and "name" in g and isinstance(g.get("rules"), list) for g in groups):
        raise AnsibleFilterError("rule_groups: expected a list of groups, each with 'name' and a list of 'rules'")
    known = []
    for group in groups:
        known += [rule["alert"] for rule in group["rules"] if "alert" in rule]
    twice = sorted({name for name in known if known.count(name) > 1})
    if twice:
        raise AnsibleFilterError(f"rule_groups: alert defined more than once: {', '.join(twice)}")
    unknown = sorted((disabled | set(overrides)) - set(known))
    if unknown:
        raise AnsibleFilterError(f"rule_groups: no such alert to disable or override: {', '.join(unknown)}")
    result = []
    for group in groups:
        rules = []
        for rule in group["rules"]:
            name = rule.get("alert")
            if name in disabled:
                continue
            rule = dict(rule)  # shallow: nested dicts are replaced below, never changed in place
            change = overrides.get(name, {})
            bad = sorted(set(change) - OVERRIDABLE)
            if bad:
                raise AnsibleFilterError(f"rule_groups: {name}: cannot override {', '.join(bad)} (only {', '.join(sorted(OVERRIDABLE))})")
            for key in ("labels", "annotations"):
                if key in change:
                    rule[key] = {**rule.get(key, {}), **change[key]}
            for key in ("for", "expr", "keep_firing_for", "runbook"):
                if key in change:
                    rule[key] = change[key]
            if not keep_runbook:
                rule.pop("runbook", None)
            if name and runbook_base_url:
                rule["annotations"] = {**rule.get("annotations", {}), "runbook_url": runbook_url(runbook_base_url, name)}
            rules.append(rule)
        if rules:
            result.append({**{k: v for k, v in group.items() if k != "rules"}, "rules": rules})
    return result


def le_regex(bound):
    """A regex for a histogram bucket bound that matches every way clients write it.

    Python writes 1.0, Go writes 1, others 1.00: the rules select the bucket by value, never by
    one spelling (equality on "1" silently selects nothing from a backend that writes "1.0").
    `[.]` instead of an escaped dot, so the PromQL string needs no backslash.
    """
    try:
        value = float(bound)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"le_regex: not a number: {bound!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise AnsibleFilterError(f"le_regex: a bucket bound must be a positive finite number, not {bound!r}")
    text = repr(value)
    if "e" in text:
        raise AnsibleFilterError(f"le_regex: write the bound without an exponent: {bound!r}")
    whole, fraction = text.split(".")  # repr of a finite float without exponent always has one dot
    fraction = fraction.rstrip("0")
    return f"{whole}[.]{fraction}0*" if fraction else f"{whole}([.]0*)?"


def duration_seconds(text):
    """A Prometheus duration (`30s`, `1m30s`, `2h`) in seconds."""
    parts = re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        raise AnsibleFilterError(f"duration_seconds: not a Prometheus duration: {text!r}")
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(int(n) * units[u] for n, u in parts)


def loaded_alert(groups, name):
    """The rules named `name` in Prometheus's /api/v1/rules groups, each with its group's evaluation
    interval (`group_interval`, seconds): what bounds how soon the alert can fire."""
    if not isinstance(groups, list) or not all(isinstance(g, dict) and isinstance(g.get("rules") or [], list) for g in groups):
        raise AnsibleFilterError("loaded_alert: expected the groups of Prometheus's /api/v1/rules")
    found = []
    for group in groups:
        for rule in group.get("rules") or []:
            if isinstance(rule, dict) and rule.get("name") == name:
                # A missing interval would read as 0 and understate how late the alert can fire.
                interval = group.get("interval")
                if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
                    raise AnsibleFilterError(f"loaded_alert: group {group.get('name')!r} has no evaluation interval: {interval!r}")
                found.append(dict(rule, group_interval=interval))
    return found


def _check_dialects(dialects):
    if not isinstance(dialects, dict) or not dialects:
        raise AnsibleFilterError("prometheus_brain_dialects must be a non-empty dict of dialects")
    for dialect, jobs in dialects.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", str(dialect)) or not isinstance(jobs, dict) or not jobs:
            raise AnsibleFilterError(f"prometheus_brain_dialects: {dialect!r}: a dialect is a lower-case name with a dict of scrape jobs")
        for job, spec in jobs.items():
            if not isinstance(spec, dict) or not isinstance(spec.get("contract", []), list) or not isinstance(spec.get("renames", {}), dict):
                raise AnsibleFilterError(f"prometheus_brain_dialects: {dialect}.{job}: expected metrics_path, renames (a dict) and contract (a list)")
            names = list(spec.get("contract", [])) + list(spec.get("renames", {})) + list(spec.get("renames", {}).values())
            bad = sorted(n for n in names if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", str(n)))
            if bad:
                raise AnsibleFilterError(f"prometheus_brain_dialects: {dialect}.{job}: not metric names: {', '.join(map(str, bad))}")


def contract_rules(dialects, grouping, tolerance):
    """The recording group `brain-contract`: per dialect, scrape job and contract series, the
    targets that answered within `tolerance` (so one failed scrape does not hide them) but have
    not exported that series within it. BrainContractMissing alerts on it, whatever the dialect."""
    _check_dialects(dialects)
    by = ", ".join(grouping)
    rules = []
    for dialect in sorted(dialects):
        for job in sorted(dialects[dialect]):
            for metric in dialects[dialect][job].get("contract", []):
                expr = (
                    f'max_over_time(up{{job="{job}",dialect="{dialect}"}}[{tolerance}]) == 1'
                    f' unless on ({by}, job) last_over_time({metric}{{job="{job}"}}[{tolerance}])'
                )
                rules.append({"record": "brain:contract_series_missing", "expr": expr, "labels": {"metric": metric}})
    return [{"name": "brain-contract", "rules": rules}]


def _current_name(dialects, name):
    """A name released in 0.1.0 (seed, upstream_main) as its current one, with a deprecation warning; a user's own
    dialect of that name in prometheus_brain_dialects stays as it is."""
    if name in DEPRECATED_DIALECTS and name not in dialects and DEPRECATED_DIALECTS[name] in dialects:
        Display().deprecated(deprecated_dialect(name), version="2.0.0", collection_name="brain.ops_assurance")
        return DEPRECATED_DIALECTS[name]
    return name


def _resolve(dialects, targets, dialect, target_dialects, detected_dialects):
    """The default dialect under its current name, and the dialect each target is scraped in: its
    entry in `target_dialects` (set by hand, wins; a target that is not scraped is an error), else in
    `detected_dialects` (found by probing, e.g. backend_info's `dialect`; entries for targets not
    scraped and empty values are ignored, since a probe covers every backend whoever scrapes it),
    else `dialect`."""
    _check_dialects(dialects)
    dialect = _current_name(dialects, dialect)
    chosen = {target: _current_name(dialects, name) for target, name in dict(target_dialects or {}).items()}
    found = {target: _current_name(dialects, name) for target, name in dict(detected_dialects or {}).items() if name and target in targets}
    unknown = sorted({dialect, *chosen.values(), *found.values()} - set(dialects))
    if unknown:
        raise AnsibleFilterError(f"no such metric dialect: {', '.join(map(str, unknown))} (prometheus_brain_dialects has {', '.join(sorted(dialects))})")
    stray = sorted(set(chosen) - set(targets))
    if stray:
        raise AnsibleFilterError(f"prometheus_brain_target_dialects names targets that are not scraped: {', '.join(stray)}")
    return dialect, {target: chosen.get(target, found.get(target, dialect)) for target in targets}


def dialect_scrape_configs(dialects, targets, dialect, target_dialects=None, jobs=None, detected_dialects=None):
    """Scrape configs for `targets`, each in its dialect (see `_resolve`).

    One job per job name the targets' dialects use; per dialect a target group labelled
    `dialect` (the contract alert and BrainTargetDown select on it) and the dialect's metrics path.
    A dialect's renames are metric_relabel_configs keyed on that label, so the stored series carry
    the normalised names from the first sample, stale exactly when the target is.
    `jobs` holds extra settings per job name (scheme, interval, auth).
    """
    dialect, chosen = _resolve(dialects, targets, dialect, target_dialects, detected_dialects)
    jobs = dict(jobs or {})
    # No targets: the default dialect's jobs, empty, so the configuration keeps its shape.
    by_dialect = {} if targets else {dialect: []}
    for target in targets:
        by_dialect.setdefault(chosen[target], []).append(target)
    configs = {}
    for name in sorted(by_dialect):
        for job, spec in sorted(dialects[name].items()):
            config = configs.setdefault(job, {"job_name": job, **jobs.get(job, {}), "static_configs": [], "metric_relabel_configs": []})
            labels = {"dialect": name}
            if spec.get("metrics_path", "/metrics") != "/metrics":
                labels["__metrics_path__"] = spec["metrics_path"]
            config["static_configs"].append({"targets": by_dialect[name], "labels": labels})
            for old, new in sorted(spec.get("renames", {}).items()):
                config["metric_relabel_configs"].append(
                    {"source_labels": ["dialect", "__name__"], "regex": f"{name};{old}", "target_label": "__name__", "replacement": new}
                )
    result = []
    for job in sorted(configs):
        if not configs[job]["metric_relabel_configs"]:
            del configs[job]["metric_relabel_configs"]
        result.append(configs[job])
    return result


class FilterModule:
    def filters(self):
        return {
            "rule_groups": rule_groups,
            "le_regex": le_regex,
            "contract_rules": contract_rules,
            "dialect_scrape_configs": dialect_scrape_configs,
            "duration_seconds": duration_seconds,
            "loaded_alert": loaded_alert,
        }
