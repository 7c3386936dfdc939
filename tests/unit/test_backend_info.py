"""backend_info's classification, in-process: every dialect, every way a capability can be missing, and hostile pages."""

import json

import pytest
from ansible_collections.brain.ops_assurance.plugins.modules.backend_info import (
    CAPABILITIES,
    METRIC_DIALECTS,
    classify_metrics,
    classify_route,
    classify_safe_mode,
    evidence_pack_dialect,
    metric_families,
    probe_all,
)


def page(names, samples=True):
    """A metrics page declaring `names`, with or without samples (a labelled counter has none before its first increment)."""
    lines = []
    for name in names:
        lines += [f"# HELP {name} something", f"# TYPE {name} gauge"]
        if samples:
            lines.append(f'{name}{{instance="x"}} 1')
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("capability", list(METRIC_DIALECTS))
def test_each_dialect_is_recognised_with_or_without_samples(capability):
    for dialect, signature in METRIC_DIALECTS[capability][1].items():
        for samples in (True, False):
            result = classify_metrics(capability, 200, page(signature, samples))
            assert (result["available"], result["dialect"], result["missing_series"]) == (True, dialect, [])


def test_histogram_series_count_under_their_family():
    assert metric_families('brain_request_duration_seconds_bucket{le="0.1"} 3\nbrain_request_duration_seconds_sum 1\n') >= {"brain_request_duration_seconds"}


def test_a_renamed_metric_is_a_missing_capability_naming_it():
    signature = METRIC_DIALECTS["governance_metrics"][1]["contract"]
    renamed = [n for n in signature if n != "sovereign_override_active"] + ["sovereign_override_on"]
    result = classify_metrics("governance_metrics", 200, page(renamed))
    assert result["available"] is False
    assert result["missing_series"] == ["sovereign_override_active"]
    assert result["detail"] == "serves only part of the contract dialect; missing: sovereign_override_active"


def test_a_page_with_no_known_series_is_missing():
    # real BRAiN's prometheus_client /metrics (autodiscovery) serves process metrics only
    result = classify_metrics("operations_metrics", 200, page(["process_cpu_seconds_total", "python_info"]))
    assert result["available"] is False
    assert result["detail"] == "answers, but serves none of the series of any known dialect"


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (404, "not served (HTTP 404): the backend does not mount /metrics"),
        (401, "the token was refused (HTTP 401), so whether the backend provides it is unknown"),
        (403, "the token was refused (HTTP 403), so whether the backend provides it is unknown"),
        (500, "unexpected answer (HTTP 500)"),
        (None, "no response"),
    ],
)
def test_a_metrics_endpoint_that_does_not_answer_200_is_missing_with_its_reason(status, detail):
    full = page(METRIC_DIALECTS["operations_metrics"][1]["contract"])
    assert classify_metrics("operations_metrics", status, full) == {
        "available": False,
        "dialect": None,
        "endpoint": "/metrics",
        "status": status,
        "detail": detail,
        "missing_series": [],
    }


@pytest.mark.parametrize(
    "text",
    ["", "\x00\xff garbage", "# TYPE\n# HELP\n#\n{}\n", "9bad_name 1\n", "# TYPE sovereign_override_active", "a" * 100000],
)
def test_hostile_pages_are_missing_not_errors(text):
    assert classify_metrics("governance_metrics", 200, text)["available"] is False


@pytest.mark.parametrize(
    ("body", "dialect", "detail"),
    [
        ({"enabled": True, "reason": "x"}, "contract", "safe mode is on"),
        ({"success": True, "safe_mode_enabled": False, "enabled_at": None}, "brain-main", "safe mode is off"),
    ],
)
def test_safe_mode_dialects(body, dialect, detail):
    result = classify_safe_mode(200, json.dumps(body))
    assert (result["available"], result["dialect"], result["detail"]) == (True, dialect, detail)


@pytest.mark.parametrize("body", ['{"enabled": "false"}', '{"safe_mode_enabled": 1}', "[true]", "{}", "not json", '{"detail": "Not Found"}'])
def test_a_safe_mode_answer_without_a_boolean_state_is_not_a_capability(body):
    assert classify_safe_mode(200, body)["available"] is False


def test_post_only_routes_are_found_by_the_405_of_a_get():
    assert classify_route("/x", 405, "contract")["available"] is True
    assert classify_route("/x", 404, "contract")["detail"] == "not served (HTTP 404): the backend does not mount /x"
    assert classify_route("/x", 200, "contract")["available"] is False


@pytest.mark.parametrize(
    ("schema", "refusal", "dialect"),
    [
        ({"components": {"schemas": {"EvidenceExportRequest": {"properties": {"from_timestamp": {}}}}}}, '{"error": "x"}', "brain-main"),
        ({"components": {"schemas": {"X": {"properties": {"start_time": {}}}}}}, '{"detail": "x"}', "contract"),
        ({"components": {}}, '{"detail":"Method Not Allowed"}', "brain-main"),
        (None, '{"error": "method not allowed", "status": 405}', "contract"),
        ([], "", None),
        (None, "[1]", None),
    ],
)
def test_evidence_pack_dialect_from_the_published_schema_else_the_refusal(schema, refusal, dialect):
    assert evidence_pack_dialect(schema, refusal) == dialect


def fake_backend(routes):
    """A fetch function over a dict of path -> (status, text); anything else is a 404."""
    return lambda path: routes.get(path, (404, '{"detail":"Not Found"}'))


def test_real_brain_main_as_shipped_lacks_everything_but_evidence_packs():
    # backend/main.py mounts the sovereign-mode router only
    schema = {"components": {"schemas": {"EvidenceExportRequest": {"properties": {"from_timestamp": {}}}}}}
    result = probe_all(
        fake_backend(
            {
                "/api/sovereign-mode/evidence/export": (405, '{"detail":"Method Not Allowed"}'),
                "/api/auth/service-token": (405, '{"detail":"Method Not Allowed"}'),
                "/openapi.json": (200, json.dumps(schema)),
            }
        )
    )
    assert sorted(name for name in CAPABILITIES if not result[name]["available"]) == [
        "audit_export",
        "governance_metrics",
        "operations_metrics",
        "safe_mode",
    ]
    assert result["evidence_packs"]["dialect"] == "brain-main"
    assert all(result[name]["enables"] for name in CAPABILITIES)


def test_an_evidence_route_of_unknown_dialect_is_not_available():
    result = probe_all(fake_backend({"/api/sovereign-mode/evidence/export": (405, ""), "/openapi.json": (200, '{"components": {}}')}))
    assert result["evidence_packs"]["available"] is False
    assert result["evidence_packs"]["detail"] == "mounted, but its request dialect is unknown"
