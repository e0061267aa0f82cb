"""The SSRF guard: which addresses are refused, and the ops switch that allows them."""

from __future__ import annotations

import ipaddress

import pytest

from servicekit.webhooks import UnsafeWebhookUrl, WebhookPolicy, check_url
from servicekit.webhooks.ssrf import forbidden_reason

STRICT = WebhookPolicy()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fc00::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:10.0.0.1",
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "fec0::1",  # site-local (deprecated, still routed inside some networks)
        "feff:ffff::1",
    ],
)
def test_private_loopback_link_local_multicast_reserved_addresses_are_refused(
    address: str,
) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_unicast_addresses_pass(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


def _resolving_to(*addresses: str):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    "url",
    ["https://127.0.0.1/hook", "https://[::1]/hook", "https://[::ffff:192.168.0.1]/hook"],
)
async def test_literal_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeWebhookUrl):
        await check_url(url, policy=STRICT)


async def test_a_host_resolving_to_a_private_address_is_refused_even_among_public_ones() -> None:
    with pytest.raises(UnsafeWebhookUrl, match="not allowed"):
        await check_url(
            "https://hooks.partner.example/x",
            policy=STRICT,
            resolver=_resolving_to("93.184.216.34", "10.0.0.5"),
        )


async def test_a_public_host_is_accepted_and_pinned_to_the_checked_address() -> None:
    target = await check_url(
        "https://hooks.partner.example:8443/x?y=1",
        policy=STRICT,
        resolver=_resolving_to("93.184.216.34"),
    )
    assert str(target.request_url()) == "https://93.184.216.34:8443/x?y=1"
    assert target.request_headers() == {"host": "hooks.partner.example:8443"}
    assert target.request_extensions() == {"sni_hostname": "hooks.partner.example"}


async def test_an_internationalised_host_is_named_in_its_ascii_form_when_pinned() -> None:
    target = await check_url(
        "https://bücher.example/x", policy=STRICT, resolver=_resolving_to("93.184.216.34")
    )
    assert target.request_headers() == {"host": "xn--bcher-kva.example"}
    assert target.request_extensions() == {"sni_hostname": "xn--bcher-kva.example"}


@pytest.mark.parametrize(
    "url",
    ["ftp://hooks.example/x", "http://hooks.example/x", "https://user:pw@hooks.example/x", "nope"],
)
async def test_non_https_urls_and_credentials_are_refused(url: str) -> None:
    with pytest.raises(UnsafeWebhookUrl):
        await check_url(url, policy=STRICT, resolver=_resolving_to("93.184.216.34"))


async def test_the_ops_switch_allows_local_receivers() -> None:
    policy = WebhookPolicy(allow_private_addresses=True, require_https=False)
    target = await check_url("http://127.0.0.1:9999/hook", policy=policy)
    assert target.address is None  # not pinned: nothing to guard
    with pytest.raises(UnsafeWebhookUrl):
        await check_url("http://127.0.0.1:9999/hook", policy=WebhookPolicy(require_https=False))


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "64:ff9b::5db8:d822"])
def test_the_nat64_form_of_a_public_ipv4_address_passes(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::c0a8:101",  # NAT64 of 192.168.1.1
        "64:ff9b:1::808:808",  # the local-use NAT64 prefix (RFC 8215): inside a network
    ],
)
def test_the_nat64_form_of_a_private_ipv4_address_is_refused(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is not None


async def test_a_literal_nat64_url_of_a_public_address_is_accepted() -> None:
    target = await check_url("https://[64:ff9b::808:808]/hook", policy=STRICT)
    assert target.address == "64:ff9b::808:808"
