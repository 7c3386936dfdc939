"""The rule_groups filters: disables, overrides, runbook links, bucket-bound regexes, the contract
records and the per-dialect scrape jobs, and their errors."""

import re

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.brain.ops_assurance.plugins.filter.rule_groups import (
    contract_rules,
    dialect_scrape_configs,
    duration_seconds,
    le_regex,
    loaded_alert,
    rule_groups,
)

PACK = [
    {"name": "g1", "interval": "30s", "rules": [{"record": "r:x", "expr": "x"}, {"alert": "A", "expr": "x > 1", "labels": {"severity": "warning"}}]},
    {"name": "g2", "rules": [{"alert": "B", "expr": "y > 1", "for": "5m", "annotations": {"summary": "s"}, "runbook": "ops.md#b"}]},
]


def test_passes_groups_through_with_runbook_links():
    out = rule_groups(PACK, runbook_base_url="https://rb.example/")
    assert [g["name"] for g in out] == ["g1", "g2"] and out[0]["interval"] == "30s"
    assert out[0]["rules"][0] == {"record": "r:x", "expr": "x"}
    assert out[1]["rules"][0]["annotations"] == {"summary": "s", "runbook_url": "https://rb.example/alerting-policy.md#b"}


def test_disabling_drops_the_alert_and_an_emptied_group():
    out = rule_groups(PACK, disabled=["B"])
    assert [g["name"] for g in out] == ["g1"]


def test_overrides_replace_and_merge_without_touching_the_input():
    out = rule_groups(PACK, overrides={"B": {"for": "1m", "annotations": {"team": "t"}}, "A": {"labels": {"team": "t"}}})
    assert out[1]["rules"][0]["for"] == "1m" and out[1]["rules"][0]["annotations"] == {"summary": "s", "team": "t"}
    assert out[0]["rules"][1]["labels"] == {"severity": "warning", "team": "t"}
    assert PACK[1]["rules"][0]["for"] == "5m" and "runbook_url" not in PACK[1]["rules"][0]["annotations"]


def test_the_runbook_key_is_kept_only_when_asked():
    assert "runbook" not in rule_groups(PACK)[1]["rules"][0]
    assert rule_groups(PACK, keep_runbook=True)[1]["rules"][0]["runbook"] == "ops.md#b"
    assert rule_groups(PACK, keep_runbook=True, overrides={"B": {"runbook": "x.md"}})[1]["rules"][0]["runbook"] == "x.md"


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"disabled": ["Nope"]}, "rule_groups: no such alert to disable or override: Nope"),
        ({"disabled": "A"}, "rule_groups: 'disabled' must be a list of alert names and 'overrides' a dict"),
        ({"overrides": {"Typo": {"for": "1m"}}}, "rule_groups: no such alert to disable or override: Typo"),
        ({"overrides": {"A": {"alert": "C"}}}, "rule_groups: A: cannot override alert (only annotations, expr, for, keep_firing_for, labels, runbook)"),
    ],
)
def test_errors_name_the_problem(kwargs, message):
    with pytest.raises(AnsibleFilterError) as err:
        rule_groups(PACK, **kwargs)
    assert str(err.value) == message


def test_an_alert_defined_twice_is_refused():
    with pytest.raises(AnsibleFilterError, match="alert defined more than once: A"):
        rule_groups([*PACK, {"name": "g3", "rules": [{"alert": "A", "expr": "z"}]}])


def test_malformed_groups_are_refused():
    with pytest.raises(AnsibleFilterError, match="expected a list of groups"):
        rule_groups([{"rules": []}])


# ---- le_regex, contract_rules, dialect_scrape_configs ---------------------------------------------
@pytest.mark.parametrize(
    ("bound", "matches", "misses"),
    [
        (1, ["1", "1.0", "1.00"], ["10", "0.1", "1.5"]),
        ("0.5", ["0.5", "0.50"], ["0.05", "5", "0.5.0"]),
        (2.5, ["2.5", "2.50"], ["25", "2.05"]),
        (10, ["10", "10.0"], ["1", "100"]),
        (0.005, ["0.005"], ["0.0051", "0.05"]),
    ],
)
def test_le_regex_matches_every_spelling_of_the_bound_and_nothing_else(bound, matches, misses):
    pattern = le_regex(bound)
    assert "\\" not in pattern  # goes into a PromQL string unescaped
    assert all(re.fullmatch(pattern, m) for m in matches) and not any(re.fullmatch(pattern, m) for m in misses)


@pytest.mark.parametrize(("bound", "message"), [("x", "not a number"), (0, "positive finite"), (1e-7, "without an exponent")])
def test_le_regex_refuses_what_is_not_a_bound(bound, message):
    with pytest.raises(AnsibleFilterError, match=message):
        le_regex(bound)


DIALECTS = {
    "seed": {"brain-operations": {"metrics_path": "/metrics", "renames": {}, "contract": ["brain_mode_current", "brain_audit_last_seq"]}},
    "other": {"brain-governance": {"metrics_path": "/gov", "renames": {"old_total": "new_total"}, "contract": ["new_total"]}},
}


def test_contract_rules_one_record_per_dialect_job_and_series():
    [group] = contract_rules(DIALECTS, ["site", "instance"], "2m")
    assert group["name"] == "brain-contract"
    assert [r["labels"]["metric"] for r in group["rules"]] == ["new_total", "brain_mode_current", "brain_audit_last_seq"]
    assert group["rules"][0] == {
        "record": "brain:contract_series_missing",
        "expr": 'max_over_time(up{job="brain-governance",dialect="other"}[2m]) == 1'
        ' unless on (site, instance, job) last_over_time(new_total{job="brain-governance"}[2m])',
        "labels": {"metric": "new_total"},
    }


def test_dialect_scrape_configs_group_targets_and_rename_by_dialect():
    out = dialect_scrape_configs(DIALECTS, ["a:1", "b:1"], "seed", {"b:1": "other"}, {"brain-governance": {"scheme": "https"}})
    assert out == [
        {
            "job_name": "brain-governance",
            "scheme": "https",
            "static_configs": [{"targets": ["b:1"], "labels": {"dialect": "other", "__metrics_path__": "/gov"}}],
            "metric_relabel_configs": [
                {"source_labels": ["dialect", "__name__"], "regex": "other;old_total", "target_label": "__name__", "replacement": "new_total"}
            ],
        },
        {"job_name": "brain-operations", "static_configs": [{"targets": ["a:1"], "labels": {"dialect": "seed"}}]},
    ]
    assert dialect_scrape_configs(DIALECTS, [], "seed") == [
        {"job_name": "brain-operations", "static_configs": [{"targets": [], "labels": {"dialect": "seed"}}]}
    ]


def scraped_as(configs):
    return {target: c["labels"]["dialect"] for job in configs for c in job["static_configs"] for target in c["targets"]}


def test_a_dialect_set_by_hand_wins_over_a_detected_one_which_wins_over_the_default():
    detected = {"a:1": "other", "b:1": "other", "c:1": None, "not-scraped:1": "other"}
    configs = dialect_scrape_configs(DIALECTS, ["a:1", "b:1", "c:1"], "seed", {"b:1": "seed"}, detected_dialects=detected)
    assert scraped_as(configs) == {"a:1": "other", "b:1": "seed", "c:1": "seed"}


@pytest.mark.parametrize(
    ("target_dialects", "detected", "message"),
    [
        ({"gone:1": "other"}, {}, "prometheus_brain_target_dialects names targets that are not scraped: gone:1"),
        ({}, {"a:1": "klingon"}, "no such metric dialect: klingon (prometheus_brain_dialects has other, seed)"),
    ],
)
def test_stray_or_unknown_target_dialects_fail(target_dialects, detected, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        dialect_scrape_configs(DIALECTS, ["a:1"], "seed", target_dialects, detected_dialects=detected)


@pytest.mark.parametrize(
    ("dialects", "message"),
    [
        ({}, "prometheus_brain_dialects must be a non-empty dict of dialects"),
        ({"Bad-Name": {"j": {}}}, "'Bad-Name': a dialect is a lower-case name"),
        ({"d": {"j": {"contract": "x"}}}, "d.j: expected metrics_path, renames (a dict) and contract (a list)"),
        ({"d": {"j": {"contract": ["ok", "not-a-metric"]}}}, "d.j: not metric names: not-a-metric"),
    ],
)
def test_bad_dialects_fail_with_the_reason(dialects, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        contract_rules(dialects, ["instance"], "2m")


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("2m", 120), ("1m30s", 90), ("1h", 3600), ("500ms", 0.5)])
def test_duration_seconds(text, seconds):
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "2 m", "1x", "m"])
def test_duration_seconds_refuses_what_is_not_a_duration(text):
    with pytest.raises(AnsibleFilterError, match="not a Prometheus duration"):
        duration_seconds(text)


# Prometheus's /api/v1/rules groups: each alert with its group's evaluation interval.
LOADED = [
    {"name": "brain-governance", "interval": 30, "rules": [{"name": "GovernanceOverrideActive", "duration": 0, "type": "alerting"}]},
    {"name": "site", "interval": 5, "rules": [{"name": "DiskAlmostFull", "duration": 600, "type": "alerting"}]},
    {"name": "empty", "interval": 60, "rules": None},
]


def test_loaded_alert_carries_its_group_interval():
    assert loaded_alert(LOADED, "DiskAlmostFull") == [{"name": "DiskAlmostFull", "duration": 600, "type": "alerting", "group_interval": 5}]


def test_loaded_alert_lists_every_copy_and_none_when_absent():
    twice = [*LOADED, {"name": "copy", "interval": 15, "rules": [{"name": "DiskAlmostFull", "duration": 60}]}]
    assert [r["group_interval"] for r in loaded_alert(twice, "DiskAlmostFull")] == [5, 15]
    assert loaded_alert(LOADED, "Missing") == []


@pytest.mark.parametrize("groups", [{"groups": LOADED}, ["page"], [{"name": "g", "rules": "page"}]])
def test_loaded_alert_refuses_what_is_not_groups(groups):
    with pytest.raises(AnsibleFilterError, match="expected the groups"):
        loaded_alert(groups, "DiskAlmostFull")


@pytest.mark.parametrize("interval", [None, "30s", 0, True])
def test_loaded_alert_refuses_a_group_without_an_evaluation_interval(interval):
    """A lying or truncated API: the drill would take the interval for 0 s and understate its worst case."""
    groups = [{"name": "site", "interval": interval, "rules": [{"name": "DiskAlmostFull", "duration": 600}]}]
    with pytest.raises(AnsibleFilterError, match="no evaluation interval"):
        loaded_alert(groups, "DiskAlmostFull")
