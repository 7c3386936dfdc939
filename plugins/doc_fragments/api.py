# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The connection options of every module in the action group brain.ops_assurance.api.
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of the BRAiN governance API, for example C(https://brain.example.org).
      - Set it once for a play with C(module_defaults) and the group C(group/brain.ops_assurance.api).
      - If not set, the environment variable E(BRAIN_API_URL) of the host the module runs on is used (the name the
        evidence exporter uses).
    type: str
    required: true
  api_token:
    description:
      - Static bearer token for the API. Keep it in Ansible Vault.
      - If not set, the environment variable E(BRAIN_API_TOKEN) of the host the module runs on is used, so that ad hoc
        commands need not put the token on a command line (where C(ps) shows it).
      - Never logged and never part of an error message. Leading and trailing white space is ignored.
      - Sent only to O(api_url), never on a redirect; C(~/.netrc) is not read.
      - Set either this or O(client_id) and O(client_secret), not both (the environment variables count).
    type: str
  client_id:
    description:
      - OAuth2 client credentials instead of O(api_token) - the client id of a service account. Each module run
        exchanges O(client_id) and O(client_secret) at O(token_url) for a fresh token and uses it for that run only.
      - If not set, the environment variable E(BRAIN_CLIENT_ID) is used.
      - Real BRAiN's service tokens carry no roles, so its governance routes answer them HTTP 403; the module then
        says that the token was accepted but lacks the role, with the backend's reason.
    type: str
  client_secret:
    description:
      - The secret of O(client_id). Keep it in Ansible Vault. If not set, the environment variable
        E(BRAIN_CLIENT_SECRET) is used.
      - Sent only to O(token_url), in the body of a POST that never follows a redirect; never logged and never part
        of an error message (a validation error's echo of the request is never shown).
    type: str
  token_url:
    description:
      - The token endpoint for O(client_id). Default O(api_url) followed by C(/api/auth/service-token), real BRAiN's
        endpoint, which takes a JSON body C({"client_id", "client_secret"}) (not an RFC 6749 form body).
      - If not set, the environment variable E(BRAIN_TOKEN_URL) is used.
      - A redirect, an answer that is not JSON, larger than 64 KiB, without an C(access_token) or not a bearer token is
        an error. An answer without C(expires_in) is accepted (the token is used at once and never kept).
    type: str
  validate_certs:
    description:
      - Verify the server's TLS certificate. Turn off only for a test backend.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA that signed the server's certificate, when it is not in the system store.
    type: path
  client_cert:
    description:
      - PEM file with a client certificate for mutual TLS; it may hold the private key too.
    type: path
  client_key:
    description:
      - PEM file with the private key of O(client_cert), when the certificate file does not hold it.
    type: path
  use_proxy:
    description:
      - Use the proxy that the environment (E(https_proxy), E(http_proxy), E(no_proxy)) names.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each API response; above 0.
    type: int
    default: 30
  retries:
    description:
      - How often to try again when no answer comes, or the answer is HTTP 429, 502, 503 or 504. Waits grow
        exponentially with random jitter and are at least what the answer's C(Retry-After) asks for (up to 120 s).
      - Every call the modules make is safe to repeat; C(0) tries once.
    type: int
    default: 3
notes:
  - Only GET requests follow a redirect, and without the token; a redirected POST fails and names where it pointed.
  - Errors name the operation, the method and the URL (without user information or query) and the HTTP status. The
    reason is taken from the answer's C(error) or C(detail) member (FastAPI's validation errors as their location and message),
    at most 300 characters.
attributes:
  action_group:
    description: Use C(group/brain.ops_assurance.api) in C(module_defaults) to set the connection options once for a play.
    support: full
    membership: [brain.ops_assurance.api]
"""
