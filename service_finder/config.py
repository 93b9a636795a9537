"""Settings from the environment (prefix SERVICE_FINDER_). Defaults are safe and need no set-up."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVICE_FINDER_", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = Field(
        default="development", description="'production' refuses to start with unsafe settings."
    )
    debug: bool = False
    database_url: str = Field(
        default="sqlite:///var/service-finder.sqlite3",
        description="SQLAlchemy URL: a SQLite file (default) or postgresql://user@host:port/database.",
    )
    gazetteer_path: Path = Field(default=Path("data/gazetteer/england.npz"))
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL.")
    # How often each process checks the store's data version and rebuilds its index when it moved.
    index_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    title: str = "Crisis Care Service Finder"
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    # Bounds how long a caller waits, not how long a thread-pool handler computes: see TimeLimitMiddleware.
    request_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="A request not answered within this many seconds gets 503."
    )
    # On SIGTERM, keep serving (while /readyz says 503 and connections are closed after each response) for this
    # long before uvicorn stops accepting, so a balancer that polls /readyz moves traffic away first. 0 suits
    # Kubernetes, which takes a terminating pod out of its Service by itself (deploy/ adds a preStop sleep).
    shutdown_drain_seconds: float = Field(
        default=0.0, ge=0, le=60, description="Seconds to keep serving, unready, after SIGTERM."
    )
    # After start-up, move everything built so far (index, gazetteer, models, modules) out of the cyclic garbage
    # collector's full passes, which otherwise stall every request for ~0.1 s now and then. `service-finder serve`
    # turns it on; left off in-process (tests build many apps in one process, and frozen garbage is never freed).
    gc_freeze: bool = Field(default=False, description="Freeze long-lived objects after start-up (serve: on).")
    rate_limit_enabled: bool = True
    # Anonymous public reads, per client address; partners (any valid API key), per key.
    rate_limit_anonymous_per_minute: int = Field(default=600, gt=0)
    rate_limit_anonymous_burst: int = Field(default=60, gt=0)
    rate_limit_partner_per_minute: int = Field(default=12_000, gt=0)
    rate_limit_partner_burst: int = Field(default=600, gt=0)
    # Proxies whose X-Forwarded-For is believed (CIDRs). Empty: use the peer address and ignore the header.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Who may put the /embed page in a frame (CSP frame-ancestors sources); '*' lets any charity's site embed it.
    frame_ancestors: str = Field(default="*", description="CSP frame-ancestors sources for /embed.")
    # The address integrators' snippets point at (https://finder.example.org). Unset, the snippet page uses the
    # address it was asked on: behind a TLS proxy that is plain http (blocked as mixed content on https sites) and
    # the host is whatever the client's Host header said.
    public_base_url: str | None = Field(
        default=None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$", description="Public URL for embed snippets."
    )

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        # Checked here so a bad one stops `serve` in one line, not a traceback from logging. Not uvicorn's TRACE:
        # it logs every connection's client address.
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level: use {', '.join(LOG_LEVELS)}")
        return level

    @model_validator(mode="after")
    def _safe(self) -> Self:
        for proxy in self.trusted_proxies:
            try:
                network = ipaddress.ip_network(proxy, strict=False)
            except ValueError as error:
                raise ValueError(f"SERVICE_FINDER_TRUSTED_PROXIES entry {proxy!r} is not an address or CIDR") from error
            if _too_wide(network):
                raise ValueError(
                    f"SERVICE_FINDER_TRUSTED_PROXIES entry {proxy!r} trusts every address, or a large part of the "
                    "internet: anyone there could forge X-Forwarded-For and dodge rate limits; list your load "
                    "balancers' addresses"
                )
        if self.environment == "production" and self.debug:
            raise ValueError("SERVICE_FINDER_DEBUG must be off when SERVICE_FINDER_ENVIRONMENT=production")
        if self.environment == "production" and not (self.public_base_url or "").startswith("https://"):
            raise ValueError(
                "SERVICE_FINDER_PUBLIC_BASE_URL must be set to the service's https:// address in production: embed "
                "snippets would otherwise point at http (blocked in https pages) on whatever host a client named"
            )
        return self


# The widest network a trusted-proxy entry may be: a /8 of IPv4 (a cloud's private range), a /32 of IPv6.
_WIDEST_V4, _WIDEST_V6 = 8, 32


def _too_wide(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    if isinstance(network, ipaddress.IPv4Network):
        return network.prefixlen < _WIDEST_V4
    mapped = ipaddress.IPv6Network("::ffff:0:0/96")
    if network.subnet_of(mapped):  # IPv4 addresses written as IPv6: judged as IPv4
        return network.prefixlen < 96 + _WIDEST_V4
    return network.prefixlen < _WIDEST_V6 or network.supernet_of(mapped)


@lru_cache
def get_settings() -> Settings:
    return Settings()
