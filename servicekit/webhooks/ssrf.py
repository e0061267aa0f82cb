"""SSRF guard: endpoint URLs must be http(s) and resolve only to public unicast addresses.

Checked when a subscription is written and again before every attempt (DNS rebinding); the
attempt then connects to the address that was checked, not to a second resolution.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import structlog

from servicekit.webhooks.errors import UnsafeWebhookUrl
from servicekit.webhooks.policy import WebhookPolicy

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses``: how host names are resolved (injectable for tests)."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

log = structlog.get_logger(__name__)

NOT_PUBLIC = (
    "the host {host} is not allowed: webhook endpoints must resolve only to public internet"
    " addresses"
)
"""Said alike when a name resolves to an internal address and when it does not resolve at all:
what a name resolves to inside our network is not the partner's to learn (ops get it in the log)."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system resolves ``host`` to."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
"""RFC 6052's well-known NAT64 prefix: the gateway connects to the IPv4 address in the last 32
bits. ``ipaddress`` counts the whole prefix as reserved (it lies in ``::/8``), which would refuse
a public IPv4 address's NAT64 form; the embedded address decides instead. The local-use prefix
``64:ff9b:1::/48`` (RFC 8215) stays refused as reserved: it is routed inside a network."""


def _nat64_embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address not in NAT64_WELL_KNOWN:
        return None
    return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be called, or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or _nat64_embedded(address)
        if embedded is not None:
            reason = forbidden_reason(embedded)
            return f"embeds {embedded} which {reason}" if reason else None
        if address.teredo is not None:
            return "is a Teredo tunnel address"
    checks = (
        ("is_loopback", "is loopback"),
        ("is_private", "is private"),
        ("is_link_local", "is link-local"),
        # fec0::/10: deprecated, so not "private" to ipaddress, yet routed inside some networks.
        ("is_site_local", "is site-local"),
        ("is_multicast", "is multicast"),
        ("is_reserved", "is reserved"),
        ("is_unspecified", "is unspecified"),
    )
    for attribute, reason in checks:
        if getattr(address, attribute, False):  # IPv4 has no is_site_local
            return reason
    if not address.is_global:
        return "is not a public address"
    return None


@dataclass(frozen=True, slots=True)
class Target:
    """A checked endpoint: its URL and, when pinned, the address to connect to."""

    url: httpx.URL
    address: str | None = None

    def request_url(self) -> httpx.URL:
        """The URL to connect to: the checked address in place of the host name."""
        return self.url if self.address is None else self.url.copy_with(host=self.address)

    def request_headers(self) -> dict[str, str]:
        """``Host`` of the original URL when connecting to a pinned address."""
        if self.address is None:
            return {}
        default_port = {"http": 80, "https": 443}[self.url.scheme]
        name = self._ascii_host()
        host = name if ":" not in name else f"[{name}]"
        port = self.url.port
        return {"host": host if port in (None, default_port) else f"{host}:{port}"}

    def request_extensions(self) -> dict[str, str]:
        """TLS name of the original host (SNI and certificate check) when pinned."""
        if self.address is None or self.url.scheme != "https":
            return {}
        return {"sni_hostname": self._ascii_host()}

    def _ascii_host(self) -> str:
        # An internationalised domain travels in its IDNA (xn--) form: a header is ASCII.
        return self.url.raw_host.decode("ascii")


def check_url_syntax(url: str, policy: WebhookPolicy) -> httpx.URL:
    """The parsed URL, or :class:`UnsafeWebhookUrl` for a scheme, host or form we refuse."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UnsafeWebhookUrl(f"not a valid URL: {exc}") from exc
    allowed = ("https",) if policy.require_https else ("https", "http")
    if parsed.scheme not in allowed:
        raise UnsafeWebhookUrl(f"the URL scheme must be {' or '.join(allowed)}")
    try:
        host = parsed.host  # decodes xn-- labels: a malformed one raises idna's UnicodeError
    except (UnicodeError, ValueError) as exc:
        raise UnsafeWebhookUrl(f"the host is not a valid domain name ({exc})") from exc
    if not host:
        raise UnsafeWebhookUrl("the URL has no host")
    if "" in host.rstrip(".").split("."):
        raise UnsafeWebhookUrl("the host is not a valid domain name (an empty label)")
    if parsed.port is not None and not 1 <= parsed.port <= 65_535:
        # httpx parses 0 or 99999 as ports: every attempt would fail until the endpoint is
        # disabled days later.
        raise UnsafeWebhookUrl("the port must be between 1 and 65535")
    if parsed.userinfo:
        raise UnsafeWebhookUrl("the URL must not carry credentials")
    if parsed.fragment:
        raise UnsafeWebhookUrl("the URL must not have a fragment")
    return parsed


async def check_url(url: str, *, policy: WebhookPolicy, resolver: Resolver | None = None) -> Target:
    """Check ``url`` and resolve its host; every address must be public unless the policy allows
    private ones. Raises :class:`UnsafeWebhookUrl` with the reason."""
    parsed = check_url_syntax(url, policy)
    if policy.allow_private_addresses:
        return Target(url=parsed)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(parsed.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await (resolver or system_resolver)(parsed.host, port)
        except (OSError, UnicodeError) as exc:
            log.warning("webhook.url_refused", host=parsed.host, reason=f"does not resolve: {exc}")
            raise UnsafeWebhookUrl(NOT_PUBLIC.format(host=parsed.host)) from exc
    if not addresses:
        log.warning("webhook.url_refused", host=parsed.host, reason="resolves to nothing")
        raise UnsafeWebhookUrl(NOT_PUBLIC.format(host=parsed.host))
    for raw in addresses:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
        reason = forbidden_reason(address)
        if reason is None:
            continue
        if literal is not None:  # the caller's own address: nothing to hide
            raise UnsafeWebhookUrl(
                f"the address {address} {reason}; private, loopback, link-local, multicast and"
                " reserved addresses are refused"
            )
        log.warning(
            "webhook.url_refused",
            host=parsed.host,
            reason=f"resolves to {address}, which {reason}",
            addresses=addresses,
        )
        raise UnsafeWebhookUrl(NOT_PUBLIC.format(host=parsed.host))
    return Target(url=parsed, address=addresses[0])
