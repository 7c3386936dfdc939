"""What the Molecule scenarios' testinfra checks do on a host, written once.

The verifiers import this as `helpers.on_host`: Molecule runs pytest under this repository's
pyproject.toml, whose `pythonpath` puts tests/ on sys.path. Secrets are read from their files on
the host by the code that runs there, so no token or password is ever on a command line.
"""

import json
import re

# Runs on a host: one call to the backend on 127.0.0.1:8000. `auth` is none, token (the contract
# profile's bearer token), login (the brain_main profile's password login, argv[5] the e-mail) or
# service (its client credentials). Prints {"status", "body"}; a JSON body is parsed.
CALL = """
import json, sys, urllib.error, urllib.request
method, path, body, auth, login = sys.argv[1:6]
def request(method, path, body, headers):
    req = urllib.request.Request("http://127.0.0.1:8000" + path, method=method, data=body.encode() or None, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read().decode()
            return {"status": r.status, "body": json.loads(raw) if r.headers.get_content_type() == "application/json" else raw}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "body": json.load(e)}
def secret(name):
    return open("/etc/brain-backend/" + name).read().strip()
def bearer(path, cred):
    return "Bearer " + request("POST", path, json.dumps(cred), headers)["body"]["access_token"]
headers = {"Content-Type": "application/json"}
if auth == "token":
    headers["Authorization"] = "Bearer " + secret("token")
elif auth == "login":
    headers["Authorization"] = bearer("/api/auth/login", {"email": login, "password": secret("login-password")})
elif auth == "service":
    headers["Authorization"] = bearer("/api/auth/service-token", {"client_id": secret("client-id"), "client_secret": secret("client-secret")})
print(json.dumps(request(method, path, body, headers)))
"""

# Runs on a host: GET from Prometheus's API on 127.0.0.1:9090, over TLS and with basic auth where
# the prometheus role set them up.
PROMETHEUS_GET = """
import base64, os, ssl, sys, urllib.request
tls = "tls_server_config" in open("/etc/prometheus/web.yml").read() if os.path.exists("/etc/prometheus/web.yml") else False
req = urllib.request.Request(("https" if tls else "http") + "://127.0.0.1:9090" + sys.argv[1])
if os.path.exists("/etc/prometheus/web-client-password"):
    secret = base64.b64encode(b"ops:" + open("/etc/prometheus/web-client-password", "rb").read()).decode()
    req.add_header("Authorization", "Basic " + secret)
context = ssl.create_default_context(cafile="/etc/prometheus-tls/cert.pem") if tls else None
print(urllib.request.urlopen(req, timeout=10, context=context).read().decode())
"""

# Runs on a host: GET argv[1] with basic auth as user argv[2], the password read from the file
# argv[3] (from its argv[4]= line when argv[4] is set: an environment file), over TLS trusting the
# CA file argv[5] when set.
AUTHENTICATED_GET = """
import base64, ssl, sys, urllib.request
url, user, secret_file, key, cafile = sys.argv[1:6]
secret = open(secret_file).read()
if key:
    secret = dict(line.split("=", 1) for line in secret.splitlines() if "=" in line)[key]
req = urllib.request.Request(url, headers={"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()})
context = ssl.create_default_context(cafile=cafile) if cafile else None
print(urllib.request.urlopen(req, timeout=10, context=context).read().decode())
"""


def call(host, method, path, body="", auth="token", login=""):
    """The backend's answer on `host` as {"status", "body"}."""
    return json.loads(host.check_output("python3 -c %s %s %s %s %s %s", CALL, method, path, body, auth, login))


def prometheus_get(host, path):
    """The body of a GET from Prometheus on `host`; fails on any HTTP error."""
    return host.check_output("python3 -c %s %s", PROMETHEUS_GET, path)


def prometheus_api(host, path):
    return json.loads(prometheus_get(host, path))


def alertmanager_api(host, path):
    """JSON from Alertmanager's API on `host`, behind TLS and basic auth as the scenarios set it up
    (the user prometheus, whose password Prometheus reads from its credentials file)."""
    url = "https://127.0.0.1:9093" + path
    args = (url, "prometheus", "/etc/prometheus/credentials/alertmanager-password", "", "/etc/prometheus-tls/cert.pem")
    return json.loads(host.check_output("python3 -c %s %s %s %s %s %s", AUTHENTICATED_GET, *args))


def victoriametrics_get(host, path):
    """The body of a GET from VictoriaMetrics on `host` (127.0.0.1:8428), with the basic auth the
    victoriametrics role put in its environment file."""
    args = ("http://127.0.0.1:8428" + path, "prometheus", "/etc/victoria-metrics/auth.env", "VM_httpAuth_password", "")
    return host.check_output("python3 -c %s %s %s %s %s %s", AUTHENTICATED_GET, *args)


def webhook_notes(host):
    """The notifications the webhook sink (tests/roles/webhook_sink) on `host` received, oldest first."""
    return [json.loads(line) for line in host.run("cat /var/lib/webhook-sink/alerts.jsonl").stdout.splitlines()]


def journal(host, unit, lines=40):
    """The unit's last journal lines: what a failing service check prints."""
    return host.run(f"journalctl -u {unit} --no-pager -n {lines}").stdout


def assert_active(host, unit):
    """The unit is running (a timer: waiting) and enabled; else its journal."""
    svc = host.service(unit)
    assert svc.is_running and svc.is_enabled, journal(host, unit)
    return svc


def unit_property(host, unit, name):
    return host.check_output(f"systemctl show -p {name} --value {unit}")


def main_user(host, unit):
    """The user the unit's main process runs as."""
    return host.check_output(f"ps -o user= -p {unit_property(host, unit, 'MainPID')}")


def command_lines(host):
    """Every process's command line on the host (secrets must never be among them)."""
    return host.check_output("ps -eo args")


def ownership(host, path):
    f = host.file(path)
    return f.user, f.group, f.mode


def answers(host, url, tries=50, delay=0.2):
    """Whether `url` answers from `host` within `tries` attempts, `delay` seconds apart."""
    return host.run(f"for i in $(seq {tries}); do curl -fsS -o /dev/null {url} && exit 0; sleep {delay}; done; exit 1").rc == 0


def exposure(host, *args):
    """systemd-analyze security's overall exposure level for a unit (name or unit file in `args`)."""
    out = host.run("systemd-analyze security --no-pager " + " ".join(args)).stdout
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
    assert found, out
    return float(found.group(1)), out
