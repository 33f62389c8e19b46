"""Travel Rule (FATF R.16): transfers at or above a threshold (``kyc.travel_rule_threshold``, default 1,000 USD,
FATF's de minimis) carry the originator's and beneficiary's details in IVMS 101 form.

Withdrawals: custody attaches the beneficiary (``attach_beneficiary``) before the withdrawal may go; for a
hosted wallet the receiving VASP (name and LEI) too. Deposits: one at or above the threshold stays locked until
the originator's details arrive (``attach_originator``). Records are stored encrypted (:mod:`compliance.pii`).
Field names follow IVMS 101 (``naturalPerson.name.nameIdentifier[].primaryIdentifier`` ...); the transport to
the other VASP (TRISA, TRP, ...) is not part of this module.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from compliance.kyc import KycStore

DEFAULT_THRESHOLD = Decimal(1000)
Kind = Literal["withdrawal", "deposit"]
_Text = Field(min_length=1, max_length=100)  # IVMS 101 Max100Text


class TravelRuleError(ValueError):
    """IVMS 101 details that are missing or malformed; ``problems`` names each field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NaturalPersonNameId(_Model):
    primaryIdentifier: str = _Text
    secondaryIdentifier: str | None = Field(default=None, max_length=100)
    nameIdentifierType: Literal["ALIA", "BIRT", "MAID", "LEGL", "MISC"] = "LEGL"


class NaturalPersonName(_Model):
    nameIdentifier: list[NaturalPersonNameId] = Field(min_length=1)


class NaturalPerson(_Model):
    name: NaturalPersonName
    customerIdentification: str | None = Field(default=None, max_length=50)
    countryOfResidence: str | None = Field(default=None, pattern="^[A-Z]{2}$")


class LegalPersonNameId(_Model):
    legalPersonName: str = _Text
    legalPersonNameIdentifierType: Literal["LEGL", "SHRT", "TRAD"] = "LEGL"


class LegalPersonName(_Model):
    nameIdentifier: list[LegalPersonNameId] = Field(min_length=1)


class NationalIdentification(_Model):
    nationalIdentifier: str = Field(min_length=1, max_length=35)
    nationalIdentifierType: Literal["LEIX", "RAID", "TXID", "MISC"] = "LEIX"

    @model_validator(mode="after")
    def _lei(self) -> NationalIdentification:
        if self.nationalIdentifierType == "LEIX" and not is_lei(self.nationalIdentifier):
            raise ValueError(f"{self.nationalIdentifier!r} is not a valid LEI (ISO 17442: 20 characters, mod 97 check)")
        return self


class LegalPerson(_Model):
    name: LegalPersonName
    nationalIdentification: NationalIdentification | None = None


class Person(_Model):
    naturalPerson: NaturalPerson | None = None
    legalPerson: LegalPerson | None = None

    @model_validator(mode="after")
    def _one(self) -> Person:
        if (self.naturalPerson is None) == (self.legalPerson is None):
            raise ValueError("exactly one of naturalPerson or legalPerson is required")
        return self


class Originator(_Model):
    originatorPersons: list[Person] = Field(min_length=1)
    accountNumber: list[str] = Field(default_factory=list)


class Beneficiary(_Model):
    beneficiaryPersons: list[Person] = Field(min_length=1)
    accountNumber: list[str] = Field(default_factory=list)


class Vasp(_Model):
    """A VASP as IVMS 101 names one: a legal person; its LEI is required here."""

    legalPerson: LegalPerson

    @field_validator("legalPerson")
    @classmethod
    def _needs_lei(cls, v: LegalPerson) -> LegalPerson:
        nid = v.nationalIdentification
        if nid is None or nid.nationalIdentifierType != "LEIX":
            raise ValueError("the VASP's LEI is required (nationalIdentification with nationalIdentifierType LEIX)")
        return v


class BeneficiaryRecord(_Model):
    """What a withdrawal at or above the threshold carries."""

    beneficiary: Beneficiary
    beneficiaryVASP: Vasp | None = None  # required for hosted wallets (checked by attach_beneficiary)
    originator: Originator | None = None
    originatingVASP: Vasp | None = None


class OriginatorRecord(_Model):
    """What a deposit at or above the threshold waits for."""

    originator: Originator
    originatingVASP: Vasp | None = None
    beneficiary: Beneficiary | None = None


def is_lei(text: str) -> bool:
    """ISO 17442: 18 alphanumerics and 2 check digits, the whole as a base-36 number mod 97 == 1."""
    if len(text) != 20 or not text.isalnum() or not text[-2:].isdigit() or text.upper() != text:
        return False
    return int("".join(str(int(c, 36)) for c in text)) % 97 == 1


def travel_rule_required(amount_usd: Decimal, threshold: Decimal = DEFAULT_THRESHOLD) -> bool:
    """At or above the threshold the transfer needs IVMS 101 details."""
    return amount_usd >= threshold


def _problems(exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"]) or "record"
        msg = "is required" if e["type"] == "missing" else e["msg"]
        out.append(f"{where}: {msg}")
    return out


class TravelRule:
    """The Travel Rule checks custody calls, over the KYC store (records sealed with the PII key ring)."""

    def __init__(self, store: KycStore, threshold: Decimal = DEFAULT_THRESHOLD) -> None:
        self.store = store
        self.threshold = threshold

    def required(self, amount_usd: Decimal) -> bool:
        return travel_rule_required(amount_usd, self.threshold)

    def attach_beneficiary(self, withdrawal_id: str, ivms: dict[str, Any], *, hosted: bool = True) -> BeneficiaryRecord:
        """Validate and store a withdrawal's beneficiary details; ``hosted``: the destination is another VASP's
        wallet, so ``beneficiaryVASP`` (name and LEI) is required. Raises :class:`TravelRuleError`."""
        try:
            record = BeneficiaryRecord.model_validate(ivms)
        except ValidationError as exc:
            raise TravelRuleError(_problems(exc)) from None
        if hosted and record.beneficiaryVASP is None:
            raise TravelRuleError(["beneficiaryVASP: is required for a hosted wallet (receiving VASP's name and LEI)"])
        self.store.put_travel_rule("withdrawal", withdrawal_id, record.model_dump(exclude_none=True))
        return record

    def attach_originator(self, deposit_id: str, ivms: dict[str, Any]) -> OriginatorRecord:
        """Validate and store a deposit's originator details. Raises :class:`TravelRuleError`."""
        try:
            record = OriginatorRecord.model_validate(ivms)
        except ValidationError as exc:
            raise TravelRuleError(_problems(exc)) from None
        self.store.put_travel_rule("deposit", deposit_id, record.model_dump(exclude_none=True))
        return record

    def travel_rule_satisfied(self, kind: Kind, ref_id: str) -> bool:
        """The transfer's details are on file."""
        return self.store.travel_rule(kind, ref_id) is not None

    def record(self, kind: Kind, ref_id: str) -> dict[str, Any] | None:
        """The stored details, decrypted."""
        return self.store.travel_rule(kind, ref_id)
