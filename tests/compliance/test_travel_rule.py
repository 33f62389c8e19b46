"""Travel Rule: required at the threshold and not one step below; IVMS 101 details validated with clear
errors, stored encrypted, and withdrawals/deposits held until they are attached."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from compliance import Kyc, TravelRule, TravelRuleError, travel_rule_required
from compliance.kyc_models import kyc_travel_rule

LEI = "5493001KJTIIGC8Y1R12"  # a valid ISO 17442 LEI (check digits verified by is_lei)
PERSON = {
    "naturalPerson": {
        "name": {
            "nameIdentifier": [
                {"primaryIdentifier": "Lovelace", "secondaryIdentifier": "Ada", "nameIdentifierType": "LEGL"}
            ]
        }
    }
}
VASP = {
    "legalPerson": {
        "name": {"nameIdentifier": [{"legalPersonName": "Example Exchange Ltd"}]},
        "nationalIdentification": {"nationalIdentifier": LEI, "nationalIdentifierType": "LEIX"},
    }
}


def test_threshold_boundary() -> None:
    assert travel_rule_required(Decimal(1000))
    assert not travel_rule_required(Decimal("999.99999999"))
    assert travel_rule_required(Decimal(3000), threshold=Decimal(3000))


def test_missing_fields_are_named(store) -> None:
    tr = TravelRule(store)
    with pytest.raises(TravelRuleError) as e:
        tr.attach_beneficiary(
            "w1",
            {
                "beneficiary": {
                    "beneficiaryPersons": [
                        {"naturalPerson": {"name": {"nameIdentifier": [{"secondaryIdentifier": "Ada"}]}}}
                    ]
                }
            },
            hosted=False,
        )
    assert e.value.problems == [
        "beneficiary.beneficiaryPersons.0.naturalPerson.name.nameIdentifier.0.primaryIdentifier: is required"
    ]
    with pytest.raises(TravelRuleError) as e:
        tr.attach_beneficiary("w1", {"beneficiary": {"beneficiaryPersons": [PERSON]}})
    assert "beneficiaryVASP: is required for a hosted wallet" in str(e.value)
    bad_lei = {"legalPerson": {**VASP["legalPerson"], "nationalIdentification": {"nationalIdentifier": LEI[:-1] + "3"}}}
    with pytest.raises(TravelRuleError, match="not a valid LEI"):
        tr.attach_beneficiary("w1", {"beneficiary": {"beneficiaryPersons": [PERSON]}, "beneficiaryVASP": bad_lei})
    with pytest.raises(TravelRuleError, match="originator: is required"):
        tr.attach_originator("d1", {})
    assert not tr.travel_rule_satisfied("withdrawal", "w1")  # nothing stored by a refused attach


def test_withdrawal_waits_for_the_beneficiary(kyc: Kyc) -> None:
    kyc.set_tier(1, 2, reason="documents", actor="op")
    tr = TravelRule(kyc.store, kyc.settings.travel_rule_threshold)
    assert kyc.withdrawal_allowed(1, "USDT", Decimal("999.99"), 0, [], withdrawal_id="w-small").allowed
    d = kyc.withdrawal_allowed(1, "USDT", Decimal(1000), 0, [], withdrawal_id="w-big")
    assert not d.allowed and d.code == "TRAVEL_RULE_BENEFICIARY_MISSING"
    tr.attach_beneficiary(
        "w-big", {"beneficiary": {"beneficiaryPersons": [PERSON], "accountNumber": ["0xabc"]}, "beneficiaryVASP": VASP}
    )
    assert tr.travel_rule_satisfied("withdrawal", "w-big")
    assert kyc.withdrawal_allowed(1, "USDT", Decimal(1000), 0, [], withdrawal_id="w-big").allowed
    rec = tr.record("withdrawal", "w-big")
    assert (
        rec["beneficiary"]["beneficiaryPersons"][0]["naturalPerson"]["name"]["nameIdentifier"][0]["primaryIdentifier"]
        == "Lovelace"
    )
    with kyc.store.engine.connect() as conn:  # stored encrypted
        raw = conn.execute(select(kyc_travel_rule.c.ciphertext)).scalar_one()
    assert b"Lovelace" not in raw


def test_deposit_waits_for_the_originator(kyc: Kyc) -> None:
    kyc.set_tier(2, 2, reason="documents", actor="op")
    tr = TravelRule(kyc.store)
    assert kyc.deposit_allowed(2, "USDT", Decimal("999.99"), deposit_id="d-small").allowed
    d = kyc.deposit_allowed(2, "USDT", Decimal(1000), deposit_id="d-big")
    assert d.locked and d.code == "TRAVEL_RULE_ORIGINATOR_MISSING"
    tr.attach_originator("d-big", {"originator": {"originatorPersons": [PERSON]}, "originatingVASP": VASP})
    assert kyc.deposit_allowed(2, "USDT", Decimal(1000), deposit_id="d-big").allowed
