# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of this collection. It may change in any release without notice.

What the modules' client (_api.py) and brain-evidence-export share about talking to the backend,
apart from the HTTP library each brings (Ansible's open_url, requests): the service-token exchange
(OAuth2 client credentials, as real BRAiN takes it), the reason an error body gives, and URLs safe
to print. Standard library only: the evidence role installs this file beside the exporter.
"""

import json
from urllib.parse import urlsplit, urlunsplit

# Real BRAiN main (app/api/routes/auth.py): POST, a JSON body {client_id, client_secret, scope},
# 200 {access_token, token_type: "bearer", expires_in: 900, scope}. It takes no RFC 6749 form body:
# that gets a 422 whose `input` echoes the whole form, secret included.
TOKEN_PATH = "/api/auth/service-token"  # noqa: S105 - a path, not a secret
TOKEN_ANSWER_MAX = 64 * 1024  # a token answer is a few hundred bytes; read no more than this
TOKEN_MAX = 16 * 1024
DETAIL_MAX = 300
# Added to a 403 after a successful exchange: the token is valid, the route wants a role.
LACKS_ROLE = (
    "the service token from {url} was accepted but lacks the role this route needs "
    "(real BRAiN gives service tokens no roles: use a token of a user or account that holds the role)"
)


class TokenError(Exception):
    """The token endpoint gave no usable token: the reason, without the HTTP status (`status`).
    `refused` is True when it turned the credentials down (400, 401, 403), as opposed to failing
    or answering something else."""

    def __init__(self, reason, status=None, refused=False):
        super().__init__(reason)
        self.status = status
        self.refused = refused


def display_url(url):
    """The URL without user info, query or fragment: safe to print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: left out rather than guessed
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def token_url(api_url, configured=None):
    """Where to exchange the client credentials: the configured URL, or the backend's own endpoint."""
    return configured or api_url.rstrip("/") + TOKEN_PATH


def token_request(client_id, client_secret):
    """The request body (bytes; it holds the secret: never log it)."""
    return json.dumps({"client_id": client_id, "client_secret": client_secret}).encode()


def read_token(status, content_type, body, location=None):
    """The access token in a token endpoint's answer and its lifetime in seconds (None when the
    answer gives none: the token is used at once and never kept), or TokenError. `body` is at most
    TOKEN_ANSWER_MAX + 1 bytes. Messages never quote a 200 answer, which holds the token."""
    if 300 <= status < 400:
        where = display_url(location)[:DETAIL_MAX] if location else "another URL"
        raise TokenError(f"the token endpoint redirected to {where}; the client secret is not sent on: set the token URL to the final one", status)
    if status != 200:
        raise TokenError(error_detail(body), status, refused=status in (400, 401, 403))
    if len(body) > TOKEN_ANSWER_MAX:
        raise TokenError(f"the token endpoint's answer is larger than {TOKEN_ANSWER_MAX} bytes", status)
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        kind = (content_type or "no Content-Type").split(";")[0].strip()[:60]
        raise TokenError(f"the token endpoint's answer is not JSON ({kind})", status) from None
    if not isinstance(answer, dict):
        raise TokenError("the token endpoint's answer is not a JSON object", status)
    token = answer.get("access_token")
    if not isinstance(token, str) or not token or len(token) > TOKEN_MAX or not token.isascii() or not token.isprintable() or " " in token:
        raise TokenError("the token endpoint's answer holds no usable access_token", status)
    if not isinstance(answer.get("token_type"), str) or answer["token_type"].lower() != "bearer":
        raise TokenError("the token endpoint's answer is not a bearer token (token_type {})".format(json.dumps(answer.get("token_type"))[:40]), status)
    expires_in = answer.get("expires_in")
    if expires_in is not None and (isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0):
        raise TokenError("the token endpoint's answer has an invalid expires_in (not a number of seconds above 0)", status)
    return token, expires_in


def error_detail(raw):
    """The reason an error body gives: the governance API contract's `error`, or FastAPI's `detail` (a string, or
    a list of validation errors shown as `loc: msg`; their `input` is left out, it echoes the request)."""
    try:
        body = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        body = None
    if not isinstance(body, dict):
        return "the API gave no reason"
    reason = body.get("error") or body.get("detail")
    if isinstance(reason, list):
        parts = []
        for item in reason:
            if isinstance(item, dict):
                loc = ".".join(str(x) for x in item.get("loc", ()) if x is not None)
                parts.append(f"{loc}: {item.get('msg', '?')}" if loc else str(item.get("msg", "?")))
            else:
                parts.append(str(item))
        reason = "; ".join(parts)
    elif isinstance(reason, dict):
        reason = json.dumps(reason, sort_keys=True)
    reason = str(reason).strip() if reason else ""
    if not reason:
        return "the API gave no reason"
    return reason if len(reason) <= DETAIL_MAX else reason[: DETAIL_MAX - 3] + "..."
