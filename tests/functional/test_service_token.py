"""OAuth2 client credentials (real BRAiN's POST /api/auth/service-token) in the modules' client and in
brain-evidence-export: a fresh token per run, the secret in no output and no command line, FastAPI's
error bodies shown, a 403 after a successful exchange said to be a missing role, and token endpoints
that misbehave (500, HTML, no expiry, a redirect to another host, a huge answer). The real endpoint is
the reference backend's brain-main profile; a stub stands in only for misbehaving endpoints."""

import json
import os
import subprocess
import sys
import time

import pytest
from helpers.backend import CLIENT_ID, CLIENT_SECRET, BrainMain
from helpers.evidence import EXPORT, day, evidence_files
from helpers.processes import command_lines
from helpers.stub_api import BrainSafeMode, StubApi

SECRET = "stub-client-secret-0123456789"
ISSUED = "issued-service-token-abcdef"
TOKEN_PATH = "/api/auth/service-token"
STATUS = "/api/safe-mode/status"
EXPORT_PATH = "/api/sovereign-mode/audit/export"
LACKS_ROLE = "was accepted but lacks the role this route needs (real BRAiN gives service tokens no roles"
ERROR_500 = (500, {"detail": "Internal Server Error"}, {})
ECHO_422 = (
    422,
    {"detail": [{"type": "model_attributes_type", "loc": ["body"], "msg": "Input should be a valid dictionary", "input": f"client_secret={SECRET}"}]},
    {},
)
GRANT = (200, {"access_token": ISSUED, "token_type": "bearer", "expires_in": 900, "scope": "read"}, {})
EMPTY_PAGE = (
    200,
    b"",
    {
        "Content-Type": "application/x-ndjson",
        "X-Brain-Content-Hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "X-Brain-Event-Count": "0",
        "X-Brain-Has-More": "false",
    },
)
HUGE = (200, b'{"access_token": "' + b"x" * (4 << 20) + b'", "token_type": "bearer"}', {})
# Token endpoints that misbehave: (answers, module message, exporter exit code, exporter message).
HOSTILE = {
    "500": (
        [(500, {"detail": "Internal Server Error"}, {})],
        "HTTP 500: Internal Server Error",
        6,
        "the token endpoint answered HTTP 500: Internal Server Error",
    ),
    "html": (
        [(200, b"<html><body>Sign in</body></html>", {"Content-Type": "text/html; charset=utf-8"})],
        "HTTP 200: the token endpoint's answer is not JSON (text/html)",
        7,
        "HTTP 200: the token endpoint's answer is not JSON (text/html)",
    ),
    "huge": ([HUGE], "HTTP 200: the token endpoint's answer is larger than 65536 bytes", 7, "answer is larger than 65536 bytes"),
    "no token": ([(200, {"token_type": "bearer", "expires_in": 900}, {})], "holds no usable access_token", 7, "holds no usable access_token"),
    "not bearer": ([(200, {"access_token": ISSUED, "token_type": "mac"}, {})], 'not a bearer token (token_type "mac")', 7, "not a bearer token"),
    "bad expiry": (
        [(200, {"access_token": ISSUED, "token_type": "bearer", "expires_in": -1}, {})],
        "invalid expires_in (not a number of seconds above 0)",
        7,
        "invalid expires_in",
    ),
    "422 echo": (
        [
            (
                422,
                {
                    "detail": [
                        {"type": "model_attributes_type", "loc": ["body"], "msg": "Input should be a valid dictionary", "input": f"client_secret={SECRET}"}
                    ]
                },
                {},
            )
        ],
        "HTTP 422: body: Input should be a valid dictionary",
        6,
        "HTTP 422: body: Input should be a valid dictionary",
    ),
}


@pytest.fixture(scope="module")
def brain(tmp_path_factory):
    b = BrainMain(tmp_path_factory.mktemp("brain"))
    yield b
    b.stop()


# ---- the modules ---------------------------------------------------------------------------------
PLAY = """
- name: Test play
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/brain.ops_assurance.api: "{{ brain_connection }}"
  tasks:
    - name: The task
      brain.ops_assurance.safe_mode_info:
      ignore_errors: true
"""


def module_run(tmp_path, url, secret=SECRET, verbose=False, **connection):
    """safe_mode_info with client credentials from a vars file (as from Vault): (result, all output)."""
    (tmp_path / "play.yml").write_text(PLAY)
    conn = {"api_url": url, "client_id": CLIENT_ID, "client_secret": secret, **connection}
    (tmp_path / "vars.json").write_text(json.dumps({"brain_connection": conn, "ansible_python_interpreter": sys.executable}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAIN_")}
    env.update({"ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0"})
    if not verbose:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    cmd = [
        "ansible-playbook",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"@{tmp_path / 'vars.json'}",
        str(tmp_path / "play.yml"),
        *(["-vvv"] if verbose else []),
    ]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = r.stdout + r.stderr
    assert secret not in out
    return (None if verbose else json.loads(r.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]), out


def test_a_403_after_a_real_token_exchange_says_the_token_lacks_the_role(brain, tmp_path):
    """Real BRAiN's service tokens carry no roles: the governance routes answer 403, and that is what the module says."""
    r, _out = module_run(tmp_path, brain.url(""), CLIENT_SECRET)
    assert r["failed"]
    assert r["msg"].startswith(
        f"read safe mode status failed (GET {brain.url(STATUS)}): HTTP 403: Insufficient permissions. Required role: one of admin, operator, SYSTEM_ADMIN; "
        f"the service token from {brain.url(TOKEN_PATH)} {LACKS_ROLE}"
    ), r["msg"]


def test_wrong_client_credentials_are_refused_by_the_real_endpoint(brain, tmp_path):
    _r, out = module_run(tmp_path, brain.url(""), "not-the-secret-42", verbose=True)
    assert "not-the-secret-42" not in out
    expected = (
        f"get a service token failed (POST {brain.url(TOKEN_PATH)}): HTTP 401: the token endpoint refused the client credentials: Invalid client credentials"
    )
    assert expected in out, out


def test_the_exchanged_token_is_used_and_fresh_for_every_run(tmp_path):
    """A token endpoint that gives no expiry: the token is used at once and never kept."""
    with BrainSafeMode(ISSUED) as api:
        api.routes[("POST", TOKEN_PATH)] = [(200, {"access_token": ISSUED, "token_type": "Bearer"}, {})]
        for _run in range(2):
            r, _out = module_run(tmp_path, api.url)
            assert not r.get("failed"), r["msg"]
            assert r["safe_mode"]["enabled"] is False
    exchanges = [q for q in api.requests if q["path"] == TOKEN_PATH]
    assert [q["body"] for q in exchanges] == [{"client_id": CLIENT_ID, "client_secret": SECRET}] * 2
    assert all("Authorization" not in q["headers"] and q["headers"]["Content-Type"] == "application/json" for q in exchanges)
    assert [q["headers"]["Authorization"] for q in api.requests if q["path"] == STATUS] == [f"Bearer {ISSUED}"] * 2


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_misbehaving_token_endpoint_fails_the_module_with_its_reason(tmp_path, case):
    answers, message, _code, _text = HOSTILE[case]
    with StubApi({("POST", TOKEN_PATH): answers}) as api:
        r, _out = module_run(tmp_path, api.url, retries=0)
    assert r["failed"] and r["msg"].startswith(f"get a service token failed (POST {api.url}{TOKEN_PATH}): HTTP ") and r["msg"].endswith(message), r["msg"]
    assert [q["path"] for q in api.requests] == [TOKEN_PATH]  # nothing else is asked without a token
    assert SECRET not in json.dumps(r)


def test_the_secret_never_follows_a_redirect(tmp_path):
    with StubApi({("POST", TOKEN_PATH): [GRANT]}) as elsewhere, StubApi({("POST", TOKEN_PATH): [(307, {}, {"Location": elsewhere.url + TOKEN_PATH})]}) as api:
        r, _out = module_run(tmp_path, api.url)
    assert r["failed"] and r["msg"] == (
        f"get a service token failed (POST {api.url}{TOKEN_PATH}): HTTP 307: the token endpoint redirected to {elsewhere.url}{TOKEN_PATH}; "
        "the client secret is not sent on: set the token URL to the final one"
    )
    assert elsewhere.requests == []


def test_token_url_sends_the_exchange_elsewhere_and_only_there(tmp_path):
    with StubApi({("POST", "/oauth/token"): [GRANT]}) as idp, BrainSafeMode(ISSUED) as api:
        r, _out = module_run(tmp_path, api.url, token_url=idp.url + "/oauth/token")
    assert not r.get("failed"), r["msg"]
    assert [q["path"] for q in idp.requests] == ["/oauth/token"] and [q["path"] for q in api.requests] == [STATUS]


@pytest.mark.parametrize(
    ("connection", "message"),
    [
        ({"api_token": "static-token"}, "set api_token or client_id and client_secret, not both"),
        ({"client_secret": None}, "client_id needs client_secret"),
        ({"client_id": None, "client_secret": None}, "no credentials: set api_token, or client_id and client_secret"),
        ({"token_url": "ftp://example.org/token"}, "token_url must start with http:// or https://"),
    ],
)
def test_credential_options_are_checked_before_any_request(tmp_path, connection, message):
    with StubApi({("POST", TOKEN_PATH): [GRANT]}) as api:
        r, _out = module_run(tmp_path, api.url, **connection)
    assert r["failed"] and r["msg"].startswith(message), r["msg"]
    assert api.requests == []


# ---- the exporter --------------------------------------------------------------------------------
def export_with(tmp_path, url, *args, client_id=CLIENT_ID, secret=SECRET):
    """The exporter with client credentials in its env file, as the role writes it."""
    env_file = tmp_path / "export.env"
    env_file.write_text(f"BRAIN_CLIENT_ID={client_id}\nBRAIN_CLIENT_SECRET={secret}\n")
    env_file.chmod(0o600)
    (tmp_path / "evidence").mkdir(exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BRAIN_")}
    cmd = [sys.executable, str(EXPORT), "--api-url", url, "--dir", str(tmp_path / "evidence"), "--env-file", str(env_file)]
    cmd += ["--retry-wait", "0.05", "--timeout", "5", "--date", day(-1), *args]
    return subprocess.Popen(cmd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(proc, secret=SECRET):
    out, err = proc.communicate(timeout=120)
    assert secret not in out + err
    return proc.returncode, err


def test_the_exporter_exchanges_with_the_real_endpoint_and_shows_fastapis_reason(brain, tmp_path):
    """Real main mounts no audit export: the token exchange succeeds, the export route is FastAPI's 404."""
    code, err = finished(export_with(tmp_path, brain.url(""), "--retries", "0", secret=CLIENT_SECRET), CLIENT_SECRET)
    assert code == 6 and err.endswith("error: the API answered HTTP 404: Not Found\n"), err
    assert evidence_files(tmp_path / "evidence") == []


def test_the_exporter_reports_refused_client_credentials(brain, tmp_path):
    code, err = finished(export_with(tmp_path, brain.url(""), secret="not-the-secret-42"), "not-the-secret-42")
    assert code == 5, err
    assert f"error: the token endpoint {brain.url(TOKEN_PATH)} refused the client credentials: HTTP 401: Invalid client credentials" in err


def test_the_exporter_says_a_403_after_a_real_exchange_is_a_missing_role(brain, tmp_path):
    """The real endpoint issues the token; the export route answers as real BRAiN's admin routes answer a token without roles."""
    denied = (403, {"detail": "Insufficient permissions. Required role: one of admin, SYSTEM_ADMIN"}, {})
    with StubApi({("POST", EXPORT_PATH): [denied]}) as api:
        code, err = finished(export_with(tmp_path, api.url, "--service-token-url", brain.url(TOKEN_PATH), secret=CLIENT_SECRET), CLIENT_SECRET)
    assert code == 5, err
    assert (
        "error: the API refused the request: HTTP 403: Insufficient permissions. Required role: one of admin, SYSTEM_ADMIN; "
        f"the service token from {brain.url(TOKEN_PATH)} {LACKS_ROLE}"
    ) in err
    token = api.requests[0]["headers"]["Authorization"].removeprefix("Bearer ")
    assert token.count(".") == 2 and CLIENT_SECRET not in token  # the real endpoint's JWT, sent as the bearer


def test_the_exporter_uses_a_fresh_token_per_run_and_keeps_the_secret_out_of_ps(tmp_path):
    """The stub holds each request a second while every command line is read; no expiry in the grant."""
    grant = (200, {"access_token": ISSUED, "token_type": "bearer"}, {})
    with StubApi({("POST", TOKEN_PATH): [grant], ("POST", EXPORT_PATH): [EMPTY_PAGE]}, delay=1) as api:
        proc = export_with(tmp_path, api.url)
        seen = []
        while proc.poll() is None:
            seen += [line for line in command_lines() if "brain-evidence-export" in line]
            time.sleep(0.1)
        code, err = finished(proc)
        assert code == 0, err
        assert finished(export_with(tmp_path, api.url, "--date", day(-1)))[0] == 0  # already exported: no API call needed
    assert seen and not [line for line in seen + command_lines() if SECRET in line or ISSUED in line]
    assert [q["path"] for q in api.requests] == [TOKEN_PATH, EXPORT_PATH]
    assert api.requests[0]["body"] == {"client_id": CLIENT_ID, "client_secret": SECRET} and "Authorization" not in api.requests[0]["headers"]
    assert api.requests[1]["headers"]["Authorization"] == f"Bearer {ISSUED}"
    assert ISSUED not in err


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_misbehaving_token_endpoint_fails_the_exporter_and_publishes_nothing(tmp_path, case):
    answers, _message, code, text = HOSTILE[case]
    with StubApi({("POST", TOKEN_PATH): answers, ("POST", EXPORT_PATH): [EMPTY_PAGE]}) as api:
        started = time.monotonic()
        result, err = finished(export_with(tmp_path, api.url, "--retries", "1"))
    assert result == code and text in err, err
    assert time.monotonic() - started < 30 and EXPORT_PATH not in [q["path"] for q in api.requests]
    assert evidence_files(tmp_path / "evidence") == []


def test_the_exporter_never_sends_the_secret_on_a_redirect(tmp_path):
    with StubApi({("POST", TOKEN_PATH): [GRANT]}) as elsewhere, StubApi({("POST", TOKEN_PATH): [(307, {}, {"Location": elsewhere.url + TOKEN_PATH})]}) as api:
        code, err = finished(export_with(tmp_path, api.url))
    assert code == 7 and f"HTTP 307: the token endpoint redirected to {elsewhere.url}{TOKEN_PATH}" in err, err
    assert elsewhere.requests == []


def test_the_exporter_refuses_a_token_and_client_credentials_together(tmp_path):
    env_file = tmp_path / "export.env"
    env_file.write_text(f"BRAIN_API_TOKEN=static\nBRAIN_CLIENT_ID={CLIENT_ID}\nBRAIN_CLIENT_SECRET={SECRET}\n")
    env_file.chmod(0o600)
    (tmp_path / "evidence").mkdir()
    cmd = [sys.executable, str(EXPORT), "--api-url", "http://127.0.0.1:1", "--dir", str(tmp_path / "evidence"), "--env-file", str(env_file)]
    r = subprocess.run(cmd, env={k: v for k, v in os.environ.items() if not k.startswith("BRAIN_")}, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 3 and "both BRAIN_API_TOKEN and BRAIN_CLIENT_ID are set" in r.stderr, r.stderr
