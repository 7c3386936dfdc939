# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of this collection. It may change in any release without notice.

The client the governance API modules share: one place for the connection options, authentication,
retries and error reporting. Errors name the operation, the method, the URL and the HTTP status,
never the token, headers or request bodies.
"""

import http.client
import json
import os
import socket
import ssl
import time
import urllib.error
from email.utils import parsedate_to_datetime

from ansible.module_utils.api import generate_jittered_backoff
from ansible.module_utils.basic import env_fallback
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url
from ansible_collections.brain.ops_assurance.plugins.module_utils._brain_http import (
    LACKS_ROLE,
    TOKEN_ANSWER_MAX,
    TokenError,
    display_url,
    read_token,
    token_request,
    token_url,
)
from ansible_collections.brain.ops_assurance.plugins.module_utils._brain_http import error_detail as _error_detail

# The environment names are the exporter's (brain-evidence-export), so one setting serves both.
API_ARGUMENT_SPEC = {
    "api_url": {"type": "str", "required": True, "fallback": (env_fallback, ["BRAIN_API_URL"])},
    "api_token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["BRAIN_API_TOKEN"])},
    # OAuth2 client credentials instead of api_token: a fresh token from the backend's token endpoint per run.
    "client_id": {"type": "str", "fallback": (env_fallback, ["BRAIN_CLIENT_ID"])},
    "client_secret": {"type": "str", "no_log": True, "fallback": (env_fallback, ["BRAIN_CLIENT_SECRET"])},
    "token_url": {"type": "str", "no_log": False, "fallback": (env_fallback, ["BRAIN_TOKEN_URL"])},  # a URL, not a secret
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "client_cert": {"type": "path"},
    "client_key": {"type": "path"},
    "use_proxy": {"type": "bool", "default": True},
    "timeout": {"type": "int", "default": 30},
    "retries": {"type": "int", "default": 3},
}

# Worth another try: the backend or a proxy in front of it is busy or restarting.
RETRY_STATUSES = frozenset((429, 502, 503, 504))
RETRY_AFTER_MAX = 120  # seconds; a longer Retry-After is not waited for in full
DETAIL_MAX = 300
TOKEN_OPERATION = "get a service token"  # noqa: S105 - an operation name, not a secret


class BrainApiError(Exception):
    """A failed API call: `status` is the HTTP status, or None when no response came back."""

    def __init__(self, operation, status, detail, request=None):
        self.operation = operation
        self.status = status
        self.detail = detail
        where = f"HTTP {status}" if status else "no response"
        on = f" ({request})" if request else ""
        super().__init__(f"{operation} failed{on}: {where}: {detail}")


class _Retryable(Exception):
    def __init__(self, error, retry_after=None):
        self.error = error
        self.retry_after = retry_after


def argument_spec(**extra):
    """The module's own options plus the shared connection options."""
    return {**API_ARGUMENT_SPEC, **extra}


class BrainApi:
    def __init__(self, module):
        self.module = module
        p = module.params
        self.base = p["api_url"].rstrip("/")
        if not self.base.startswith(("http://", "https://")):
            module.fail_json(msg=f"api_url must start with http:// or https://, got {display_url(self.base)[:100]!r}")
        if p["timeout"] <= 0:
            module.fail_json(msg=f"timeout must be a number of seconds above 0, got {p['timeout']}")
        if p["retries"] < 0:
            module.fail_json(msg=f"retries must be 0 or more, got {p['retries']}")
        # The environment fallbacks count as set: a BRAIN_API_TOKEN left in the environment must not
        # silently win over (or lose to) client credentials.
        if p["api_token"] and p["client_id"]:
            module.fail_json(msg="set api_token or client_id and client_secret, not both (the BRAIN_API_TOKEN and BRAIN_CLIENT_ID environment variables count)")
        self.token_url = None
        if p["client_id"]:
            if not p["client_secret"]:
                module.fail_json(msg="client_id needs client_secret")
            self.token_url = token_url(self.base, p["token_url"])
            if not self.token_url.startswith(("http://", "https://")):
                module.fail_json(msg=f"token_url must start with http:// or https://, got {display_url(self.token_url)[:100]!r}")
            self.token = None  # exchanged on the first call: a fresh token per run
        elif p["api_token"]:
            self.token = p["api_token"].strip()  # a token read from a file keeps its newline
            if not self.token or any(c in self.token for c in "\r\n\0"):
                module.fail_json(msg="api_token is empty or holds a line break")
        else:
            module.fail_json(msg="no credentials: set api_token, or client_id and client_secret (or BRAIN_API_TOKEN, BRAIN_CLIENT_ID and BRAIN_CLIENT_SECRET)")
        for option in ("ca_path", "client_cert", "client_key"):
            if p[option] and not os.path.isfile(p[option]):
                module.fail_json(msg=f"{option} {p[option]} is not a file")
        if p["client_key"] and not p["client_cert"]:
            module.fail_json(msg="client_key needs client_cert")

    def call(self, operation, method, path, body=None):
        """One logical request; the decoded JSON object of a 200 answer, or BrainApiError.

        Every call the modules make is safe to repeat (reads, evidence packs, and setting safe mode to
        a state), so connection failures, timeouts, 429 and 502-504 are retried with jittered
        exponential backoff, waiting at least what Retry-After asks for.
        """
        url = self.base + path
        request = f"{method} {display_url(url)}"
        self._authenticate()
        return self._retrying(lambda: self._once(operation, request, method, url, body))

    def _retrying(self, once):
        retries = self.module.params["retries"]
        delays = generate_jittered_backoff(retries=retries, delay_base=1, delay_threshold=30)
        attempt = 1
        while True:
            try:
                return once()
            except _Retryable as retry:
                delay = next(delays, None)
                if delay is None:
                    raise retry.error from None
                if retry.retry_after is not None:
                    delay = max(delay, retry.retry_after)
                attempt += 1
                self.module.warn(f"{retry.error}; retrying in {delay:g} s (attempt {attempt} of {retries + 1})")
                time.sleep(delay)

    def probe(self, operation, path, limit):
        """GET `path` once and return what it answers, whatever the status: (status, text), the text being at
        most `limit` bytes of the body decoded as UTF-8. Not retried: a probe reports what the backend answers
        now. No answer at all raises BrainApiError with status None."""
        url = self.base + path
        request = f"GET {display_url(url)}"
        self._authenticate()
        try:
            response = self._open("GET", url, None, {"Authorization": "Bearer " + self.token})
        except urllib.error.HTTPError as err:
            response = err
        except urllib.error.URLError as err:
            raise BrainApiError(operation, None, _reason(err.reason), request) from None
        except TimeoutError:
            raise BrainApiError(operation, None, f"no answer within {self.module.params['timeout']} s", request) from None
        except (OSError, ValueError) as err:
            raise BrainApiError(operation, None, _reason(err), request) from None
        try:
            raw = response.read(limit)
        except (OSError, AttributeError):
            raw = b""
        return response.getcode(), raw.decode("utf-8", "replace")

    def _authenticate(self):
        """With client credentials, exchange them once for a token (real BRAiN: 15 minutes, more than a run)."""
        if self.token is None:
            self.token = self._retrying(self._exchange)

    def _exchange(self):
        """POST the client credentials to the token endpoint: never redirected (the body holds the
        secret), a bounded answer, and errors that quote neither the secret nor the token."""
        request = f"POST {display_url(self.token_url)}"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        p = self.module.params
        location = None
        try:
            response = self._open("POST", self.token_url, token_request(p["client_id"], p["client_secret"]), headers, follow_redirects="none")
            status, content_type, raw = response.status, response.headers.get("Content-Type"), response.read(TOKEN_ANSWER_MAX + 1)
        except urllib.error.HTTPError as err:
            status, content_type, location = err.code, err.headers.get("Content-Type"), err.headers.get("Location")
            try:
                raw = err.read(TOKEN_ANSWER_MAX + 1)
            except (AttributeError, OSError):
                raw = b""
            if status in RETRY_STATUSES:
                raise _Retryable(BrainApiError(TOKEN_OPERATION, status, _error_detail(raw), request), _retry_after(err.headers.get("Retry-After"))) from None
        except urllib.error.URLError as err:
            raise _Retryable(BrainApiError(TOKEN_OPERATION, None, _reason(err.reason), request)) from None
        except UrlsConnectionError as err:
            raise BrainApiError(TOKEN_OPERATION, None, _reason(err), request) from None
        except (http.client.HTTPException, TimeoutError, OSError) as err:
            raise _Retryable(BrainApiError(TOKEN_OPERATION, None, _reason(err) if str(err) else type(err).__name__, request)) from None
        except ValueError:
            raise BrainApiError(TOKEN_OPERATION, None, "the request could not be sent (invalid URL)", request) from None
        try:
            return read_token(status, content_type, raw, location)[0]
        except TokenError as err:
            detail = f"the token endpoint refused the client credentials: {err}" if err.refused else str(err)
            raise BrainApiError(TOKEN_OPERATION, err.status, detail, request) from None

    def _open(self, method, url, data, headers, follow_redirects="safe"):
        p = self.module.params
        return open_url(
            url,
            data=data,
            headers=headers,
            method=method,
            use_proxy=p["use_proxy"],
            timeout=p["timeout"],
            validate_certs=p["validate_certs"],
            ca_path=p["ca_path"],
            client_cert=p["client_cert"],
            client_key=p["client_key"],
            # A redirect never carries the token, and only GET follows one: a POST turned into a
            # GET by a 302 would read the state instead of setting it.
            follow_redirects=follow_redirects,
            unredirected_headers=["Authorization"],
            use_netrc=False,  # a ~/.netrc entry would replace the bearer token
            http_agent="brain.ops_assurance",
        )

    def _once(self, operation, request, method, url, body):
        p = self.module.params
        status = None
        headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            response = self._open(method, url, data, headers)
            status = response.status
            raw = response.read()
        except urllib.error.HTTPError as err:
            status = err.code
            try:
                raw = err.read()
            except (AttributeError, OSError):
                raw = b""
            detail = _error_detail(raw) if not 300 <= status < 400 else _redirect_detail(method, err.headers.get("Location"))
            if err.geturl() and display_url(err.geturl()) != display_url(url):
                detail += f" (at {display_url(err.geturl())[:DETAIL_MAX]}, after a redirect that does not carry the token)"
            elif status == 403 and self.token_url:
                detail += "; " + LACKS_ROLE.format(url=display_url(self.token_url)[:DETAIL_MAX])
            error = BrainApiError(operation, status, detail, request)
            if status in RETRY_STATUSES:
                raise _Retryable(error, _retry_after(err.headers.get("Retry-After"))) from None
            raise error from None
        except urllib.error.URLError as err:
            error = BrainApiError(operation, None, _reason(err.reason), request)
            if isinstance(err.reason, ssl.SSLError):  # a certificate problem does not go away by itself
                raise error from None
            raise _Retryable(error) from None
        except UrlsConnectionError as err:  # ansible's own: TLS validation, proxies, unix sockets
            raise BrainApiError(operation, None, _reason(err), request) from None
        except http.client.IncompleteRead:
            raise _Retryable(BrainApiError(operation, status, "the answer was cut short", request)) from None
        except http.client.HTTPException as err:  # a malformed answer
            raise _Retryable(BrainApiError(operation, None, _reason(err) if str(err) else type(err).__name__, request)) from None
        except TimeoutError:
            raise _Retryable(BrainApiError(operation, None, f"no answer within {p['timeout']} s", request)) from None
        except OSError as err:  # reset or closed connections, cut-off bodies
            raise _Retryable(BrainApiError(operation, None, _reason(err), request)) from None
        except ValueError:  # http.client's invalid URL or header: its text may quote the header
            raise BrainApiError(operation, None, "the request could not be sent (invalid URL)", request) from None
        if status != 200:
            raise BrainApiError(operation, status, f"expected HTTP 200 with a JSON object, got HTTP {status}", request)
        try:
            decoded = json.loads(raw)
        except (ValueError, TypeError):
            raise BrainApiError(operation, status, "the response is not JSON", request) from None
        if not isinstance(decoded, dict):
            raise BrainApiError(operation, status, "the response is not a JSON object", request)
        return decoded


def _reason(reason):
    """urllib's reason without its "<... error ...>" wrapping, e.g. "[Errno 111] Connection refused"."""
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "no answer (timed out)"
    text = str(reason).strip()
    return text[:DETAIL_MAX] if text else type(reason).__name__


def _redirect_detail(method, location):
    where = display_url(location) if location else "another URL"
    if method in ("GET", "HEAD"):
        return f"redirected to {where[:DETAIL_MAX]}, which was not followed"
    return f"the API redirected a {method} to {where[:DETAIL_MAX]}; writes are never redirected: set api_url to the final URL"


def _retry_after(value):
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), capped; None when absent or bad."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)
