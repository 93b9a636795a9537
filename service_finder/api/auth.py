"""API keys: `Authorization: Bearer sf_<id>_<secret>` (or `X-API-Key`). Secrets are stored hashed and compared in
constant time; a key is never logged. Anonymous callers may read; writing needs the `write` scope."""

from __future__ import annotations

import hmac
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from service_finder.api.deps import StateDep
from service_finder.errors import Forbidden, Unauthorised
from service_finder.storage import repository

_KEY = re.compile(r"^sf_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
# admin implies write implies read.
IMPLIED = {"admin": {"admin", "write", "read"}, "write": {"write", "read"}, "read": {"read"}}
SCOPES = tuple(IMPLIED)
CACHE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Caller:
    key_id: str | None  # None: anonymous
    name: str
    scopes: frozenset[str]

    @property
    def is_partner(self) -> bool:
        return self.key_id is not None


ANONYMOUS = Caller(None, "anonymous", frozenset({"read"}))


@dataclass(frozen=True, slots=True)
class _Cached:
    secret_hash: str
    caller: Caller
    until: float


class KeyStore:
    """Verified keys, cached briefly per process so rate limiting does not hit the store per request. A revoked
    key loses its rate tier within CACHE_SECONDS, and its writes at once (require_write asks the store)."""

    def __init__(self, *, max_keys: int = 10_000) -> None:
        # Least recently used first: bounded, so a flood of made-up key ids cannot grow it without end.
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self.max_keys = max_keys

    def _remember(self, key_id: str, cached: _Cached) -> _Cached:
        self._cache[key_id] = cached
        self._cache.move_to_end(key_id)
        while len(self._cache) > self.max_keys:
            self._cache.popitem(last=False)
        return cached

    def identify(self, raw: str | None, session_factory: object) -> Caller:
        if raw is None:
            return ANONYMOUS
        match = _KEY.match(raw.strip())
        if not match:
            raise Unauthorised("the API key is not in the form sf_<id>_<secret>")
        key_id, secret = match.groups()
        cached = self._cache.get(key_id)
        if cached is None or cached.until < time.monotonic():
            assert callable(session_factory)
            with session_factory() as session:
                key = repository.find_api_key(session, key_id)
            if key is None:
                # Remember unknown ids too, so a flood of made-up keys costs one lookup each per CACHE_SECONDS.
                self._remember(key_id, _Cached("", ANONYMOUS, time.monotonic() + CACHE_SECONDS))
                raise Unauthorised("the API key is not valid")
            caller = Caller(key.id, key.name, frozenset(s for scope in key.scopes for s in IMPLIED.get(scope, ())))
            cached = self._remember(key_id, _Cached(key.secret_hash, caller, time.monotonic() + CACHE_SECONDS))
        if not cached.secret_hash or not hmac.compare_digest(repository.hash_secret(secret), cached.secret_hash):
            raise Unauthorised("the API key is not valid")
        return cached.caller

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)


def presented_key(request: Request) -> str | None:
    """The API key sent as `Authorization: Bearer <key>` or `X-API-Key`. Another scheme (a proxy's or browser's
    Basic credentials, say) is not a key: public reads answer as for anyone, and writes say a key is needed."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            if not value.strip():
                raise Unauthorised("'Authorization: Bearer' needs the API key after it")
            return value
    return request.headers.get("x-api-key")


def get_caller(request: Request, state: StateDep) -> Caller:
    caller = getattr(request.state, "caller", None)
    if isinstance(caller, Caller):
        return caller
    return state.keys.identify(presented_key(request), lambda: Session(state.engine))


CallerDep = Annotated[Caller, Depends(get_caller)]


# Declared for the OpenAPI document (security schemes, the docs' Authorize button); the key itself is read once,
# by get_caller, from whichever of the two headers was sent.
_BEARER = HTTPBearer(auto_error=False, description="An API key with the write scope: `Authorization: Bearer <key>`.")
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same API key, as `X-API-Key: <key>`.")


def require_write(
    caller: CallerDep,
    state: StateDep,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
    _header: Annotated[str | None, Security(_API_KEY)] = None,
) -> Caller:
    if caller.key_id is None:
        raise Unauthorised(
            "changing the directory needs an API key with the 'write' scope, sent as 'Authorization: Bearer <key>' "
            "or 'X-API-Key: <key>'"
        )
    if "write" not in caller.scopes:
        raise Forbidden(f"API key {caller.name!r} does not have the 'write' scope")
    # A revoked key must stop changing the directory at once, in every process: writes are rare, so each one asks
    # the store (one primary-key read) rather than trusting this process's cache, which only sets read rate tiers.
    with Session(state.engine) as session:
        if repository.find_api_key(session, caller.key_id) is None:
            state.keys.forget(caller.key_id)
            raise Unauthorised("the API key is not valid")
    return caller


EditorDep = Annotated[Caller, Depends(require_write)]
