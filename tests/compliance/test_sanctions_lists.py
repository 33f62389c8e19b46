"""Reading the OFAC SDN publications: advanced XML and the CSV set give the same list, versioned."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest

from compliance.sanctions import (
    CryptoAddress,
    SanctionsFormatError,
    SanctionsList,
    load_files,
    normalise_address,
    parse_csv,
    parse_remarks,
)
from compliance.screening import AddressIndex
from tests.compliance.conftest import OFAC, PUBLISHED


def test_xml_and_csv_publications_give_the_same_entries(sdn: SanctionsList) -> None:
    xml = load_files([OFAC / "sdn_advanced.xml"])
    assert len(sdn.entries) == len(xml.entries) == 39
    assert {e.uid: e for e in xml.entries} == {e.uid: e for e in sdn.entries}
    assert xml.version.published == "2024-05-03"  # from DateOfIssue
    assert xml.version.source == "advanced-xml" and sdn.version.source == "csv"


def test_a_real_entry_is_read_whole(sdn: SanctionsList) -> None:
    yan = sdn.by_uid[25308]
    assert yan.name == "YAN, Xiaobing" and yan.kind == "individual" and yan.programs == ("SDNTK",)
    assert yan.birth_dates == ("1977-03-25",)
    assert yan.aliases == ("ZHOU, William", "YAN, Steven")
    assert yan.countries == ("China",)
    assert yan.addresses[0] == CryptoAddress("XBT", "12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h")
    assert len(yan.addresses) == 6
    lazarus = sdn.by_uid[27307]
    assert lazarus.kind == "entity" and lazarus.programs == ("DPRK3",)
    assert CryptoAddress("ETH", "0x098B716B8Aaf21512996dC57EB0615e2383E2f96") in lazarus.addresses
    assert sdn.by_uid[2686].birth_dates == ("1960-08-31", "1953-08-31", "1955-08-31", "1958-08-31")


def test_a_remarks_field_cut_at_1000_characters_loses_its_last_address(sdn: SanctionsList) -> None:
    # BLENDER.IO's remarks end "... alt. Digital Currency Address - XBT 3F6bbvS1krsc1qR8FsbTDfYQyvkMm" (cut)
    blender = sdn.by_uid[37070]
    listed = {a.address for a in blender.addresses}
    assert "3F6bbvS1krsc1qR8FsbTDfYQyvkMm" not in listed  # 29 characters: it would pass a length check
    assert "38ncxqt932N9CcfNfYuHGZgCyR85hDkWBW" in listed
    # (the whole address, 3F6bbvS1krsc1qR8FsbTDfYQyvkMm3QvmR, is listed earlier in the same field)
    assert "3F6bbvS1krsc1qR8FsbTDfYQyvkMm3QvmR" in listed
    # a complete field's last address keeps its place, without the final full stop
    r = parse_remarks(
        "Digital Currency Address - XBT 12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h; "
        "alt. Digital Currency Address - ETH 0x098B716B8Aaf21512996dC57EB0615e2383E2f96."
    )
    assert r.addresses == [
        CryptoAddress("XBT", "12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h"),
        CryptoAddress("ETH", "0x098B716B8Aaf21512996dC57EB0615e2383E2f96"),
    ]


def test_the_version_is_the_publication_date_and_the_files_sha256(sdn: SanctionsList) -> None:
    blob = b"".join((OFAC / n).read_bytes() for n in ("sdn.csv", "alt.csv", "add.csv"))
    assert sdn.version.sha256 == hashlib.sha256(blob).hexdigest()
    assert sdn.version.published == "2024-05-03"
    assert sdn.version.label.startswith("OFAC-SDN 2024-05-03 csv sha256:")
    assert SanctionsList.from_json(sdn.to_json()) == sdn


def test_bad_files_are_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(SanctionsFormatError, match="no publication date"):
        load_files([OFAC / "sdn.csv"])
    other = tmp_path / "names.csv"
    other.write_bytes((OFAC / "sdn.csv").read_bytes())
    with pytest.raises(SanctionsFormatError, match="named as published"):
        load_files([other], published=PUBLISHED)
    bad = tmp_path / "sdn_advanced.xml"
    bad.write_bytes(b"<?xml version='1.0'?><Sanctions><DistinctParties>")
    with pytest.raises(SanctionsFormatError, match="not well-formed"):
        load_files([bad])
    with pytest.raises(SanctionsFormatError, match="SDN.CSV row"):
        parse_csv(b"36,AEROCARIBBEAN\r\n", published=date(2024, 5, 3))
    with pytest.raises(SanctionsFormatError, match="no such file"):
        load_files([tmp_path / "missing.xml"])


def test_address_lookup_is_exact_per_chain_format(sdn: SanctionsList) -> None:
    idx = AddressIndex(sdn)
    # EVM: case-insensitive (the list mixes EIP-55 and lower case); the same address on any EVM chain
    assert idx.lookup("0x098b716b8aaf21512996dc57eb0615e2383e2f96")[0].entry_name == "LAZARUS GROUP"
    assert idx.lookup("0X098B716B8AAF21512996DC57EB0615E2383E2F96".replace("0X", "0x"))
    # base58 is case-sensitive: 1AjZPMsnmpdK2Rv9KQNfMurTXinscVro9V is listed, the mis-typed ...Vro9v is not
    assert idx.lookup("1AjZPMsnmpdK2Rv9KQNfMurTXinscVro9V")[0].entry_name == "GHORBANIYAN, Mohammad"
    assert idx.lookup("1AjZPMsnmpdK2Rv9KQNfMurTXinscVro9v") == ()
    # bech32 compares lower-cased
    assert idx.lookup("BC1QDT3GML5Z5N50Y5HM04U2YJDPHEFKM0FL2ZDJ68")[0].entry_name == "SUEX OTC, S.R.O."
    assert idx.lookup(" 149w62rY42aZBox8fGcmqNsXUzSStKeq8C ")[0].entry_name == "KHORASHADIZADEH, Ali"
    assert idx.lookup("1BoatSLRHtKNngkdXEeobR76b53LETtpyT") == ()
    assert normalise_address("TBHTJqAy4DhHhmT3dNceJYNRz4SdLofLre") == "TBHTJqAy4DhHhmT3dNceJYNRz4SdLofLre"
