"""What issue 14 asks of the collection against the real routers, in the names the tests assume.

Work on other branches is still choosing some of these names (/work/team/interop-expectations.md):
they are kept here, once, so aligning a test with the name finally chosen is a one-line change.
Changing what is expected is not: that is the issue's "Done when".
"""

# Capability discovery (issue 14, "Capability discovery that never stays silent"); names as the
# lead's backend_info has them (branch `capabilities`).
BACKEND_INFO = "brain.ops_assurance.backend_info"
CAPABILITIES = ("governance_metrics", "operations_metrics", "safe_mode", "audit_export", "evidence_packs", "service_tokens")
REQUIRE_OPTION = "required"  # capabilities the deploy needs: missing ones fail the module
ACCEPT_OPTION = "accept_missing"  # ... unless listed here
ALERTS_KEY = "alerts"  # per capability: the rule pack's alerts it makes possible (issue 14: "which alerts ... it makes possible")

# The prometheus role's setting that picks a backend's scrape paths (issue 14, "scrape paths per backend").
SCRAPE_DIALECT = {"prometheus_brain_dialect": "brain_main"}

# The exporter reading the backend's audit JSONL on the backend host (issue 14, "Modules and exporter").
EXPORTER_AUDIT_FILE_OPTION = "--audit-file"

# Alerts of the rule pack whose series real main (with the monitoring router) never exports: the
# capability table must not promise them for this backend (issue 14: 15 of 22 can never fire on
# the shipped backend; with monitoring mounted these remain impossible).
IMPOSSIBLE_ON_REAL_MAIN = {
    "GovernanceOverrideActiveTooLong",  # no activation timestamp
    "GovernanceAxeTrustViolation",
    "GovernancePreflightFailures",
    "GovernanceSafeModeEnabled",  # safe mode state is not a metric on main
    "BrainAuthnFailureSpike",
    "BrainAuthzDenials",
    "BrainPolicyViolations",
    "BrainLatencyP95AboveSLO",
    "BrainLatencyP99AboveSLO",
    "BrainTraceIncomplete",
}
# Alerts a drill can make fire on real main through its API: mode switches and a bundle that
# fails its hash check (quarantined).
DRILLABLE_ON_REAL_MAIN = {"BrainModeFlapping", "GovernanceBundleQuarantined"}
