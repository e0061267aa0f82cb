"""Subscription input the kit refuses with a reason: malformed internationalised hosts (never a
500), event-type filters naming no known event, and SSRF refusals that do not tell a partner what
a host name resolves to inside our network."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from servicekit.webhooks import InvalidSubscription, UnsafeWebhookUrl, WebhookPolicy, check_url
from servicekit.webhooks.ssrf import check_url_syntax
from servicekit.webhooks.subscriptions import matches, normalise_event_types

STRICT = WebhookPolicy()
CATALOGUE = ("fsm.OrderAssigned.v1", "fsm.OrderCreated.v1", "fsm.TechnicianArrived.v1")


@pytest.mark.parametrize(
    "url",
    [
        "https://xn--/",
        "https://xn--a/",
        "https://xn--zz-.com/hook",
        "https://xn--ls8h.la/",
        "https://a..b/",
    ],
)
def test_a_malformed_internationalised_or_empty_label_host_is_an_unsafe_url(url: str) -> None:
    with pytest.raises(UnsafeWebhookUrl, match="host"):
        check_url_syntax(url, STRICT)


async def test_a_malformed_idna_host_is_refused_before_any_resolution() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        raise AssertionError("not resolved")

    with pytest.raises(UnsafeWebhookUrl):
        await check_url("https://xn--/", policy=STRICT, resolver=resolver)


def test_a_valid_internationalised_host_still_passes() -> None:
    assert check_url_syntax("https://exämple.com/x", STRICT).raw_host == b"xn--exmple-cua.com"


@pytest.mark.parametrize(
    "name", ["OrderAssigned", "OrderAssigned.v1", "orderassigned", "fsm.OrderAssignd.v1"]
)
def test_an_event_type_outside_the_catalogue_is_refused_naming_it_and_the_form(name: str) -> None:
    with pytest.raises(InvalidSubscription) as refused:
        normalise_event_types([name, "fsm.OrderCreated.v1"], catalogue=CATALOGUE)
    message = str(refused.value)
    assert repr(name) in message and "fsm.OrderCreated.v1" not in message.split("form")[0]
    assert "fsm.<Event>.v<N>" in message


def test_a_near_miss_is_answered_with_the_name_it_probably_meant() -> None:
    with pytest.raises(InvalidSubscription, match=r"fsm\.OrderAssigned\.v1"):
        normalise_event_types(["OrderAssigned"], catalogue=CATALOGUE)


def test_a_prefix_must_match_at_least_one_known_type() -> None:
    assert normalise_event_types(["fsm.Order*", "fsm.TechnicianArrived.*"], catalogue=CATALOGUE)
    assert normalise_event_types(["*"], catalogue=CATALOGUE) == ["*"]
    with pytest.raises(InvalidSubscription, match="'Order\\*'"):
        normalise_event_types(["Order*"], catalogue=CATALOGUE)


def test_without_a_catalogue_any_name_is_kept_as_before() -> None:
    assert normalise_event_types(["com.example.*", "x"]) == ["com.example.*", "x"]
    assert matches(["fsm.Order*"], "fsm.OrderAssigned.v1")


def _resolving_to(*addresses: str):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


async def _refusal(url: str, resolver) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(UnsafeWebhookUrl) as refused:
        await check_url(url, policy=STRICT, resolver=resolver)
    return str(refused.value)


async def test_a_refused_host_name_does_not_reveal_what_it_resolves_to() -> None:
    with capture_logs() as logs:
        private = await _refusal("https://intranet.example/x", _resolving_to("10.20.30.40"))
    assert "10.20.30.40" not in private and "private" not in private
    assert "not allowed" in private
    # ops still see why, server-side
    assert any("10.20.30.40" in str(entry) for entry in logs)


async def test_a_host_that_does_not_resolve_is_refused_in_the_same_words_as_a_private_one() -> None:
    async def nxdomain(host: str, port: int) -> list[str]:
        raise OSError(-2, "Name or service not known")

    missing = await _refusal("https://intranet.example/x", nxdomain)
    private = await _refusal("https://intranet.example/x", _resolving_to("10.20.30.40"))
    assert missing == private
    assert "Name or service" not in missing


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example:0/x", "https://hooks.example:65536/x", "https://hooks.example:99999/x"],
)
def test_a_port_outside_1_to_65535_is_an_unsafe_url_also_for_local_receivers(url: str) -> None:
    # httpx parses these; the endpoint would fail every attempt until disabled days later.
    for policy in (STRICT, WebhookPolicy(allow_private_addresses=True, require_https=False)):
        with pytest.raises(UnsafeWebhookUrl, match="port"):
            check_url_syntax(url, policy)


@pytest.mark.parametrize("url", ["https://hooks.example:1/x", "https://hooks.example:65535/x"])
def test_ports_1_to_65535_pass(url: str) -> None:
    assert check_url_syntax(url, STRICT).port in (1, 65535)
