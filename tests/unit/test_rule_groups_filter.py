"""The rule_groups filter: disables, overrides, runbook links and its errors."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.brain.ops_assurance.plugins.filter.rule_groups import rule_groups

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
