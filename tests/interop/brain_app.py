"""The real BRAiN governance routers in a small app, for the interop check (make interop).

This file only imports and mounts routers from a BRAiN checkout (BRAIN_SRC/backend on PYTHONPATH);
none of BRAiN's code is copied here. It runs in the interop venv (tests/interop/requirements.txt),
in a throwaway working directory, because the backend keeps its config and audit JSONL under
./storage.

  brain_app.py serve --profile governance|as-shipped --port N   serve until terminated
  brain_app.py token --role admin [--role ...]                   print an access token

Profiles: `governance` mounts sovereign_mode, safe_mode and monitoring (the Sprint 7 routers that
exist but main.py does not mount) and the auth routers; `as-shipped` mounts what backend/main.py
mounts of these (sovereign_mode and auth), so the collection can be shown what is missing. The auth
routes have no database here: they exist (a probe finds them) but a service-token request fails.
Tokens are minted by the backend's own create_token with the throwaway key in BRAIN_JWT_PRIVATE_KEY,
the key the server verifies with.
"""

import argparse
import sys
from datetime import timedelta

# name -> (module, attribute) of a router in BRAIN_SRC/backend
ROUTERS = {
    "sovereign_mode": ("app.modules.sovereign_mode.router", "router"),
    "safe_mode": ("app.modules.safe_mode.router", "router"),
    "monitoring": ("app.modules.monitoring.router", "router"),
    "auth": ("app.api.routes.auth", "router"),
    "auth_admin": ("app.api.routes.auth", "admin_router"),
}
PROFILES = {
    "governance": ("sovereign_mode", "safe_mode", "monitoring", "auth", "auth_admin"),
    "as-shipped": ("sovereign_mode", "auth", "auth_admin"),
}


def app_for(profile):
    import importlib

    from fastapi import FastAPI

    app = FastAPI(title=f"BRAiN governance routers ({profile}), interop check")
    # sovereign_mode first, as main.py imports it: the other order leaves a circular import that
    # stops mode switches from being counted in brain_mode_switch_total.
    for name in PROFILES[profile]:
        module, attribute = ROUTERS[name]
        app.include_router(getattr(importlib.import_module(module), attribute))
    return app


def main(argv):
    p = argparse.ArgumentParser(prog="brain_app.py")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--profile", choices=sorted(PROFILES), required=True)
    serve.add_argument("--port", type=int, required=True)
    token = sub.add_parser("token")
    token.add_argument("--role", action="append", default=[])
    token.add_argument("--subject", default="interop-check")
    token.add_argument("--minutes", type=int, default=15)  # the backend's access-token lifetime
    args = p.parse_args(argv)
    from app.core.token_keys import init_token_keys

    init_token_keys()
    if args.command == "token":
        from app.core.jwt_middleware import create_token

        print(create_token(subject=args.subject, scopes=[], roles=args.role, expires_delta=timedelta(minutes=args.minutes)))
        return 0
    import uvicorn

    uvicorn.run(app_for(args.profile), host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
