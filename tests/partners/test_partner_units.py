"""Unit tests of the partner pieces: the minimised webhook body and the mirrored webhook policy."""

from __future__ import annotations

from scheduling.bootstrap import webhook_policy
from scheduling.domain.partners import minimise
from scheduling.domain.policy import PartnerWebhooks, SchedulingPolicy
from servicekit.webhooks import WebhookPolicy

VERIFIED = {
    "order_id": "o1",
    "customer": {"name": "王芳", "phones": ["+8613800138000"], "address": {"city": "东营市"}},
    "buyer_name": "王芳",
    "items": [{"signature_ref": "sig-1", "ok": True}],
}


def test_the_holding_network_keeps_the_customer_contact_but_never_the_buyer_or_signature() -> None:
    assert minimise(VERIFIED, holder=True) == {
        "order_id": "o1",
        "customer": VERIFIED["customer"],
        "items": [{"ok": True}],
    }


def test_a_network_that_lost_the_order_is_told_without_contact_details() -> None:
    assert minimise(VERIFIED, holder=False) == {"order_id": "o1", "items": [{"ok": True}]}


def test_the_policy_files_webhook_section_mirrors_the_kits_defaults() -> None:
    assert PartnerWebhooks.model_fields.keys() == WebhookPolicy.model_fields.keys()
    assert webhook_policy(SchedulingPolicy()) == WebhookPolicy()
    assert PartnerWebhooks().model_dump() == WebhookPolicy().model_dump()
