# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: rule_groups
short_description: Turn the governance rule pack into Prometheus rule groups
version_added: 0.1.0
description:
  - Takes rule groups as data (the rule pack plus any groups the user adds), drops disabled alerts,
    applies per-alert overrides and adds a C(runbook_url) annotation to every alert.
  - Fails on a disabled or overridden alert name that no group defines, so a typo cannot silently
    leave an alert active, and on an alert name defined twice.
  - An alert may carry a C(runbook) key (not a Prometheus field), the runbook section that handles it
    relative to the runbooks directory. It is removed unless O(keep_runbook) is set.
  - The C(prometheus) role renders its rule files with it and the C(runbooks) role lists the same
    alerts with it, so both always agree.
options:
  _input:
    description: Rule groups, each a dict with C(name) and C(rules) as Prometheus defines them.
    type: list
    elements: dict
    required: true
  disabled:
    description: Alert names to leave out.
    type: list
    elements: str
    default: []
  overrides:
    description:
      - Per alert name, keys to change. C(for), C(expr), C(keep_firing_for) and C(runbook) replace;
        C(labels) and C(annotations) merge.
    type: dict
    default: {}
  keep_runbook:
    description: Keep each alert's C(runbook) key (for runbooks); Prometheus rejects it.
    type: bool
    default: false
  runbook_base_url:
    description:
      - Base of the runbook links. Each alert gets C(<base>/alerting-policy.md#<alert name in lower case>).
      - Empty to add no link.
    type: str
    default: ''
"""

EXAMPLES = r"""
- name: Render the governance rule groups
  ansible.builtin.copy:
    content: "{{ {'groups': prometheus_rule_pack | brain.ops_assurance.rule_groups(disabled=['Watchdog'])} | to_nice_yaml }}"
    dest: /etc/prometheus/rules/brain.rules.yml
    mode: "0640"
"""

RETURN = r"""
_value:
  description: The rule groups, with empty groups removed.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

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


class FilterModule:
    def filters(self):
        return {"rule_groups": rule_groups}
