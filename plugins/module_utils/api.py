# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The client the API modules share: one place for the connection options, authentication and
error reporting. Errors name the operation and the HTTP status, never the token or headers."""

import json

from ansible.module_utils.urls import fetch_url

API_ARGUMENT_SPEC = {
    "api_url": {"type": "str", "required": True},
    "api_token": {"type": "str", "required": True, "no_log": True},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "timeout": {"type": "int", "default": 30},
}


class BrainApiError(Exception):
    """A failed API call: `status` is the HTTP status, or None when no response came back."""

    def __init__(self, operation, status, detail):
        self.operation = operation
        self.status = status
        self.detail = detail
        where = f"HTTP {status}" if status else "no response"
        super().__init__(f"{operation} failed: {where}: {detail}")


def argument_spec(**extra):
    """The module's own options plus the shared connection options."""
    return {**API_ARGUMENT_SPEC, **extra}


class BrainApi:
    def __init__(self, module):
        self.module = module
        self.base = module.params["api_url"].rstrip("/")
        if not self.base.startswith(("http://", "https://")):
            module.fail_json(msg=f"api_url must start with http:// or https://, got {self.base[:100]!r}")

    def call(self, operation, method, path, body=None):
        """One request; the decoded JSON object of a 200 answer, or BrainApiError."""
        headers = {"Authorization": "Bearer " + self.module.params["api_token"], "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        response, info = fetch_url(
            self.module,
            self.base + path,
            data=data,
            headers=headers,
            method=method,
            timeout=self.module.params["timeout"],
            ca_path=self.module.params["ca_path"],
        )
        status = info.get("status", -1)
        if status == -1:
            raise BrainApiError(operation, None, _connection_detail(info.get("msg", "")))
        if status != 200:  # fetch_url has already read an error's body into info
            raise BrainApiError(operation, status, _error_detail(info.get("body")))
        raw = response.read()
        try:
            decoded = json.loads(raw)
        except (ValueError, TypeError):
            raise BrainApiError(operation, status, "the response is not JSON") from None
        if not isinstance(decoded, dict):
            raise BrainApiError(operation, status, "the response is not a JSON object")
        return decoded


def _connection_detail(msg):
    """The reason in fetch_url's message, without its prefix (e.g. "[Errno 111] Connection refused")."""
    for prefix in ("Request failed: ", "Connection failure: "):
        msg = msg.replace(prefix, "")
    return msg.strip() or "the request failed"


def _error_detail(raw):
    try:
        error = json.loads(raw).get("error")
    except (ValueError, TypeError, AttributeError):
        error = None
    return str(error)[:300] if error else "the API gave no reason"
