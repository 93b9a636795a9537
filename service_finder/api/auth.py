"""API keys: `Authorization: Bearer sf_<id>_<secret>` (or `X-API-Key`). Secrets are stored hashed and compared in
constant time; a key is never logged. Anonymous callers may read; writing needs the `write` scope."""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DatabaseError
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

    @property
    def actor(self) -> str:
        """Who the audit trail says made a change. The id as well as the name, which two keys may share: once a
        leaked key is revoked, the changes it made must be told apart from those of its namesake."""
        return f"key:{self.key_id} ({self.name})"


ANONYMOUS = Caller(None, "anonymous", frozenset({"read"}))
# A key this process has not seen, sent while the store cannot be reached to check it. Reads go on at the anonymous
# rate (a key earns no tier it cannot prove); a write asks the store again, and gets 503 store-unavailable.
UNVERIFIED = Caller(None, "unverified", frozenset({"read"}))
# After a failed lookup, how long keys are answered from what is known without asking the store again: each lookup
# can wait out the connection timeout, and searches must not.
STORE_RETRY_SECONDS = 5.0
# How long a request waits for its key to be looked up before going on as if the store were down.
LOOKUP_DEADLINE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class _Cached:
    secret_hash: str
    caller: Caller
    until: float


def _parse(raw: str) -> tuple[str, str]:
    match = _KEY.match(raw.strip())
    if not match:
        raise Unauthorised("the API key is not in the form sf_<id>_<secret>")
    key_id, secret = match.groups()
    return key_id, secret


def _verified(cached: _Cached | None, secret: str) -> Caller:
    """The caller `cached` names if `secret` is its secret; UNVERIFIED when the key could not be looked up."""
    if cached is None:
        return UNVERIFIED  # the store is down and this process has not seen the key
    if not cached.secret_hash or not hmac.compare_digest(repository.hash_secret(secret), cached.secret_hash):
        raise Unauthorised("the API key is not valid")
    return cached.caller


class KeyStore:
    """Verified keys, cached briefly per process so rate limiting does not hit the store per request. A revoked
    key loses its rate tier within CACHE_SECONDS, and its writes at once (require_write asks the store)."""

    def __init__(self, *, max_keys: int = 10_000) -> None:
        # Least recently used first: bounded, so a flood of made-up key ids cannot grow it without end.
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self.max_keys = max_keys
        self._store_down_until = 0.0  # monotonic; see STORE_RETRY_SECONDS

    def _remember(self, key_id: str, cached: _Cached) -> _Cached:
        self._cache[key_id] = cached
        self._cache.move_to_end(key_id)
        while len(self._cache) > self.max_keys:
            self._cache.popitem(last=False)
        return cached

    def identify(self, raw: str | None, session_factory: object, *, strict: bool = False) -> Caller:
        """The caller a key names. When the store cannot be reached, a key seen before keeps its last known
        caller (searches from a partner must not drop to the anonymous rate in an outage) and an unseen one is
        UNVERIFIED; `strict` (writes) raises the store's error instead, which is answered 503. Blocking: call it
        from a worker thread (writes' dependencies), never on the event loop (identify_promptly is for that)."""
        if raw is None:
            return ANONYMOUS
        key_id, secret = _parse(raw)
        cached = self._fresh(key_id)
        if cached is None:
            cached = self._look_up(key_id, session_factory, strict=strict) or self._cache.get(key_id)
        return _verified(cached, secret)

    async def identify_promptly(self, raw: str | None, session_factory: object, *, store_reachable: bool) -> Caller:
        """identify, for the event loop: a lookup runs in a thread and is waited for LOOKUP_DEADLINE_SECONDS at
        most. A store that hangs rather than refuses (a stopped server, a stalled network) would otherwise hold the
        loop, and every request of every caller with it, for as long as it hangs. While the catalogue already knows
        the store is unreachable, no lookup is tried at all."""
        if raw is None:
            return ANONYMOUS
        key_id, secret = _parse(raw)
        cached = self._fresh(key_id)
        if cached is None:
            found = await self._look_up_within_deadline(key_id, session_factory) if store_reachable else None
            cached = found or self._cache.get(key_id)
        return _verified(cached, secret)

    def _fresh(self, key_id: str) -> _Cached | None:
        cached = self._cache.get(key_id)
        return cached if cached is not None and cached.until >= time.monotonic() else None

    async def _look_up_within_deadline(self, key_id: str, session_factory: object) -> _Cached | None:
        if time.monotonic() < self._store_down_until:
            return None
        lookup = asyncio.ensure_future(asyncio.to_thread(self._look_up, key_id, session_factory, strict=False))
        # A lookup left running past the deadline finishes (or fails) unobserved: retrieve its outcome so that
        # asyncio does not log it as never retrieved.
        lookup.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            return await asyncio.wait_for(asyncio.shield(lookup), timeout=LOOKUP_DEADLINE_SECONDS)
        except TimeoutError:
            self._store_down_until = time.monotonic() + STORE_RETRY_SECONDS
            return None

    def _look_up(self, key_id: str, session_factory: object, *, strict: bool) -> _Cached | None:
        """The key as the store has it now; None when the store cannot be reached (and not `strict`)."""
        if not strict and time.monotonic() < self._store_down_until:
            return None
        assert callable(session_factory)
        try:
            with session_factory() as session:
                key = repository.find_api_key(session, key_id)
        except DatabaseError:  # unreachable, or a SQLite file that is no database any more
            if strict:
                raise
            self._store_down_until = time.monotonic() + STORE_RETRY_SECONDS
            return None
        if key is None:
            # Remember unknown ids too, so a flood of made-up keys costs one lookup each per CACHE_SECONDS.
            self._remember(key_id, _Cached("", ANONYMOUS, time.monotonic() + CACHE_SECONDS))
            raise Unauthorised("the API key is not valid")
        caller = Caller(key.id, key.name, frozenset(s for scope in key.scopes for s in IMPLIED.get(scope, ())))
        return self._remember(key_id, _Cached(key.secret_hash, caller, time.monotonic() + CACHE_SECONDS))

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)


def presented_key(request: Request) -> str | None:
    """The API key sent as `Authorization: Bearer <key>` or `X-API-Key`. Another scheme (a proxy's or browser's
    Basic credentials, say) is not a key: public reads answer as for anyone, and writes say a key is needed.

    Two different keys in one request (one in each header, or a header given twice) are refused whatever their
    order: reading one of them let a bogus key ride beside a good one and the write go through, and which one a
    client meant is not the server's to guess. The same key given twice is one key. Neither is ever repeated back."""
    presented: list[tuple[str, str]] = []
    for header in request.headers.getlist("authorization"):
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            if not value.strip():
                raise Unauthorised("'Authorization: Bearer' needs the API key after it")
            presented.append(("Authorization", value))
    presented.extend(("X-API-Key", value) for value in request.headers.getlist("x-api-key"))
    if len({value.strip() for _, value in presented}) > 1:
        names = list(dict.fromkeys(name for name, _ in presented))
        where = f"{names[0]} and {names[1]}" if len(names) > 1 else f"{names[0]}, given more than once"
        raise Unauthorised(
            f"the request sends two different API keys ({where}): send one key, as 'Authorization: Bearer <key>' "
            "or 'X-API-Key: <key>'"
        )
    return presented[0][1] if presented else None


def get_caller(request: Request, state: StateDep) -> Caller:
    caller = getattr(request.state, "caller", None)
    if isinstance(caller, Caller) and caller is not UNVERIFIED:
        return caller
    return state.keys.identify(presented_key(request), lambda: Session(state.engine), strict=True)


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
