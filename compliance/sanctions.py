"""The OFAC SDN list: its published files read into entries, and the version every decision records.

Two publications of the same list are read:

- the advanced XML (``SDN_ADVANCED.XML``): reference value sets (alias, feature, party and name-part types,
  countries), locations, distinct parties (profiles with identities, aliases made of name parts, and
  features such as birth dates and ``Digital Currency Address - <TICKER>``), then the sanctions entries
  that give each profile's programs. It carries its date of issue.
- the legacy CSV files: ``SDN.CSV`` (ent_num, name, type, programs, ..., remarks), ``ALT.CSV`` (aliases)
  and ``ADD.CSV`` (addresses). No header row, ``-0-`` for empty, a trailing Ctrl-Z. Birth dates,
  citizenship and digital currency addresses live in the free-text remarks, entries separated by ``"; "``
  and the field cut at 1,000 characters, so a remarks field that does not end with ``.`` may end in a
  cut-off address: that last item is dropped. The CSV files carry no publication date; the loader is told it.

A version is the publication date plus the SHA-256 of the files' bytes (in the order given).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from lxml import etree

DCA_PREFIX = "Digital Currency Address - "
_MONTHS = {
    m: i
    for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1)
}
_EVM = re.compile(r"^0x[0-9a-fA-F]{40}$")
_BECH32 = re.compile(r"^(bc|tb|bcrt|ltc|tltc)1[02-9ac-hj-np-z]{6,87}$", re.IGNORECASE)
_ADDRESS_CHARS = re.compile(r"^[A-Za-z0-9:]{20,128}$")


class SanctionsFormatError(ValueError):
    """A file is not a readable SDN publication."""


@dataclass(frozen=True, slots=True)
class CryptoAddress:
    ticker: str  # as the list writes it after "Digital Currency Address - " (XBT, ETH, USDT, ...)
    address: str  # as listed


@dataclass(frozen=True, slots=True)
class SdnEntry:
    uid: int  # ent_num in the CSV, the DistinctParty FixedRef in the XML
    name: str
    kind: str  # individual, entity, vessel, aircraft
    programs: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    birth_dates: tuple[str, ...] = ()  # ISO prefixes: "1977-03-25", "1977-03" or "1977"
    countries: tuple[str, ...] = ()
    addresses: tuple[CryptoAddress, ...] = ()


@dataclass(frozen=True, slots=True)
class ListVersion:
    published: str  # ISO date of the publication
    sha256: str  # of the files' bytes, in the order read
    source: str  # "advanced-xml" or "csv"
    files: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"OFAC-SDN {self.published} {self.source} sha256:{self.sha256[:16]}"


@dataclass(frozen=True)
class SanctionsList:
    version: ListVersion
    entries: tuple[SdnEntry, ...]
    by_uid: dict[int, SdnEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_uid", {e.uid: e for e in self.entries})

    def to_json(self) -> dict[str, Any]:
        v = self.version
        return {
            "version": {"published": v.published, "sha256": v.sha256, "source": v.source, "files": list(v.files)},
            "entries": [
                [
                    e.uid,
                    e.name,
                    e.kind,
                    list(e.programs),
                    list(e.aliases),
                    list(e.birth_dates),
                    list(e.countries),
                    [[a.ticker, a.address] for a in e.addresses],
                ]
                for e in self.entries
            ],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> SanctionsList:
        v = obj["version"]
        entries = tuple(
            SdnEntry(
                uid,
                name,
                kind,
                tuple(progs),
                tuple(aliases),
                tuple(dobs),
                tuple(countries),
                tuple(CryptoAddress(t, a) for t, a in addrs),
            )
            for uid, name, kind, progs, aliases, dobs, countries, addrs in obj["entries"]
        )
        return cls(ListVersion(v["published"], v["sha256"], v["source"], tuple(v["files"])), entries)


# ---------------------------------------------------------------------------------------------- addresses


def normalise_address(address: str) -> str:
    """The form addresses are compared in: EVM hex and bech32 lower-cased, everything else (base58) exact."""
    a = address.strip()
    if _EVM.match(a) or _BECH32.match(a):
        return a.lower()
    return a


def plausible_address(ticker: str, address: str) -> bool:
    """A listed address that could be whole: EVM hex of 40 digits, else 20-128 letters and digits."""
    if address.lower().startswith("0x"):
        return bool(_EVM.match(address))
    return bool(_ADDRESS_CHARS.match(address))


# ---------------------------------------------------------------------------------------------- CSV


def _cell(value: str) -> str:
    v = value.strip()
    return "" if v == "-0-" else v


def _rows(data: bytes) -> Iterator[list[str]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # older publications were not UTF-8
    text = text.rstrip("\x1a\r\n ")
    for row in csv.reader(io.StringIO(text)):
        if row and any(c.strip() for c in row):
            yield row


def _csv_dob(text: str) -> str | None:
    """'25 Mar 1977' -> '1977-03-25', 'Mar 1977' -> '1977-03', 'circa 1960' / '1960' -> '1960'."""
    words = text.replace("circa", "").split()
    try:
        if len(words) >= 3 and words[1] in _MONTHS:
            return f"{int(words[2]):04d}-{_MONTHS[words[1]]:02d}-{int(words[0]):02d}"
        if len(words) >= 2 and words[0] in _MONTHS:
            return f"{int(words[1]):04d}-{_MONTHS[words[0]]:02d}"
        if words and words[0].isdigit() and len(words[0]) == 4:
            return words[0]
    except ValueError:
        return None
    return None


@dataclass
class _Remarks:
    birth_dates: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    addresses: list[CryptoAddress] = field(default_factory=list)
    akas: list[str] = field(default_factory=list)


def parse_remarks(remarks: str) -> _Remarks:
    """The facts Braid screens on, out of an SDN.CSV remarks field."""
    out = _Remarks()
    if not remarks:
        return out
    complete = remarks.endswith(".")
    items = [i.strip() for i in remarks.split(";")]
    if complete:
        items[-1] = items[-1][:-1]
    for n, item in enumerate(items):
        last = n == len(items) - 1
        item = item.removeprefix("alt. ")
        if item.startswith("DOB "):
            dob = _csv_dob(item[4:])
            if dob:
                out.birth_dates.append(dob)
        elif item.startswith(("nationality ", "citizen ")):
            out.countries.append(item.split(" ", 1)[1].strip())
        elif item.startswith(DCA_PREFIX):
            if last and not complete:
                continue  # the field was cut here: the address may be cut too
            rest = item[len(DCA_PREFIX) :].split()
            if len(rest) >= 2 and plausible_address(rest[0], rest[1]):
                out.addresses.append(CryptoAddress(rest[0], rest[1]))
        elif item.startswith(("a.k.a. '", "f.k.a. '", "n.k.a. '")) and item.endswith("'"):
            out.akas.append(item[8:-1])
    return out


def parse_csv(
    sdn: bytes, alt: bytes | None = None, add: bytes | None = None, *, published: date, files: Sequence[str] = ()
) -> SanctionsList:
    """Entries from SDN.CSV, with aliases from ALT.CSV and countries from ADD.CSV when given."""
    aliases: dict[int, list[str]] = {}
    for row in _rows(alt or b""):
        if len(row) < 4 or not row[0].strip().isdigit():
            raise SanctionsFormatError(f"ALT.CSV row is not ent_num,alt_num,alt_type,alt_name,...: {row[:4]}")
        name = _cell(row[3])
        if name:
            aliases.setdefault(int(row[0]), []).append(name)
    countries: dict[int, list[str]] = {}
    for row in _rows(add or b""):
        if len(row) < 5 or not row[0].strip().isdigit():
            raise SanctionsFormatError(f"ADD.CSV row is not ent_num,add_num,address,city,country,...: {row[:5]}")
        country = _cell(row[4])
        if country:
            countries.setdefault(int(row[0]), []).append(country)
    entries: list[SdnEntry] = []
    for row in _rows(sdn):
        if len(row) < 12 or not row[0].strip().isdigit():
            raise SanctionsFormatError(f"SDN.CSV row is not ent_num,name,type,program,...,remarks: {row[:4]}")
        uid = int(row[0])
        kind = _cell(row[2]).lower() or "entity"
        programs = tuple(p.strip("[] ") for p in _cell(row[3]).split("] [") if p.strip("[] "))
        r = parse_remarks(_cell(row[11]))
        names = aliases.get(uid, []) + [a for a in r.akas if a not in aliases.get(uid, [])]
        entries.append(
            SdnEntry(
                uid=uid,
                name=_cell(row[1]),
                kind=kind,
                programs=programs,
                aliases=tuple(dict.fromkeys(names)),
                birth_dates=tuple(dict.fromkeys(r.birth_dates)),
                countries=tuple(dict.fromkeys(r.countries + countries.get(uid, []))),
                addresses=tuple(dict.fromkeys(r.addresses)),
            )
        )
    if not entries:
        raise SanctionsFormatError("SDN.CSV holds no entries")
    digest = hashlib.sha256(sdn + (alt or b"") + (add or b"")).hexdigest()
    return SanctionsList(ListVersion(published.isoformat(), digest, "csv", tuple(files)), tuple(entries))


# ---------------------------------------------------------------------------------------------- advanced XML


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(el: Any, name: str) -> Iterator[Any]:
    for c in el:
        if _local(c.tag) == name:
            yield c


def _child(el: Any, name: str) -> Any:
    return next(_children(el, name), None)


def _descendants(el: Any, name: str) -> Iterator[Any]:
    for c in el.iter():
        if _local(c.tag) == name:
            yield c


def _xml_date(el: Any) -> str | None:
    parts = [(_child(el, n).text or "").strip() if _child(el, n) is not None else "" for n in ("Year", "Month", "Day")]
    y, m, d = parts
    if not y:
        return None
    if m and d:
        return f"{int(y):04d}-{int(m):02d}-{int(d):02d}"
    if m:
        return f"{int(y):04d}-{int(m):02d}"
    return f"{int(y):04d}"


@dataclass
class _Refs:
    alias_types: dict[str, str] = field(default_factory=dict)
    feature_types: dict[str, str] = field(default_factory=dict)
    party_types: dict[str, str] = field(default_factory=dict)
    party_subtypes: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (text, party type id)
    name_part_types: dict[str, str] = field(default_factory=dict)
    countries: dict[str, str] = field(default_factory=dict)
    location_countries: dict[str, list[str]] = field(default_factory=dict)


def _party_name(alias: Any, groups: dict[str, str], refs: _Refs, individual: bool) -> list[str]:
    """Each documented name of an alias as one string (individuals: "LAST, First Middle")."""
    out = []
    for dn in _children(alias, "DocumentedName"):
        last: list[str] = []
        rest: list[str] = []
        for part in _descendants(dn, "NamePartValue"):
            text = (part.text or "").strip()
            if not text:
                continue
            ptype = refs.name_part_types.get(groups.get(part.get("NamePartGroupID", ""), ""), "")
            (last if ptype == "Last Name" else rest).append(text)
        if individual and last and rest:
            out.append(f"{' '.join(last)}, {' '.join(rest)}")
        elif last or rest:
            out.append(" ".join(last + rest))
    return out


def _party(el: Any, refs: _Refs) -> tuple[str, SdnEntry] | None:
    profile = _child(el, "Profile")
    if profile is None:
        return None
    sub_text, party_type_id = refs.party_subtypes.get(profile.get("PartySubTypeID", ""), ("", ""))
    kind = (sub_text if sub_text and sub_text != "Unknown" else refs.party_types.get(party_type_id, "entity")).lower()
    individual = kind == "individual"
    primary: str | None = None
    aliases: list[str] = []
    for identity in _children(profile, "Identity"):
        groups = {g.get("ID", ""): g.get("NamePartTypeID", "") for g in _descendants(identity, "NamePartGroup")}
        for alias in _children(identity, "Alias"):
            names = _party_name(alias, groups, refs, individual)
            if not names:
                continue
            if alias.get("Primary") == "true" and identity.get("Primary", "true") == "true" and primary is None:
                primary, names = names[0], names[1:]
            aliases.extend(names)
    if primary is None:
        if not aliases:
            return None
        primary = aliases.pop(0)
    dobs: list[str] = []
    countries: list[str] = []
    addresses: list[CryptoAddress] = []
    for feature in _children(profile, "Feature"):
        ftype = refs.feature_types.get(feature.get("FeatureTypeID", ""), "")
        for version in _children(feature, "FeatureVersion"):
            if ftype.startswith(DCA_PREFIX):
                for detail in _children(version, "VersionDetail"):
                    address = (detail.text or "").strip()
                    if address:
                        addresses.append(CryptoAddress(ftype[len(DCA_PREFIX) :].strip(), address))
            elif ftype == "Birthdate":
                for frm in _descendants(version, "From"):
                    d = _xml_date(frm)
                    if d:
                        dobs.append(d)
                    break  # the period's start; its "To" repeats it for exact dates
            elif "Country" in ftype or ftype == "Location":
                for loc in _children(version, "VersionLocation"):
                    countries.extend(refs.location_countries.get(loc.get("LocationID", ""), []))
    uid = el.get("FixedRef", "")
    if not uid.isdigit():
        raise SanctionsFormatError(f"DistinctParty without a numeric FixedRef: {uid!r}")
    return profile.get("ID", uid), SdnEntry(
        uid=int(uid),
        name=primary,
        kind=kind,
        aliases=tuple(dict.fromkeys(a for a in aliases if a != primary)),
        birth_dates=tuple(dict.fromkeys(dobs)),
        countries=tuple(dict.fromkeys(countries)),
        addresses=tuple(dict.fromkeys(addresses)),
    )


_REF_TAGS = {"AliasType", "FeatureType", "PartyType", "PartySubType", "NamePartType", "Country"}


def parse_advanced_xml(source: bytes | Path | str, *, files: Sequence[str] = ()) -> SanctionsList:
    """Entries of an SDN_ADVANCED.XML publication (streamed: a full list is about 120 MB)."""
    if isinstance(source, bytes):
        data = source
    else:
        data = Path(source).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    refs = _Refs()
    issued: str | None = None
    parties: dict[str, SdnEntry] = {}
    programs: dict[str, list[str]] = {}
    try:
        for _, el in etree.iterparse(
            io.BytesIO(data), events=("end",), resolve_entities=False, no_network=True, huge_tree=True
        ):
            tag = _local(el.tag)
            if tag in _REF_TAGS:
                text = (el.text or "").strip()
                if tag == "AliasType":
                    refs.alias_types[el.get("ID", "")] = text
                elif tag == "FeatureType":
                    refs.feature_types[el.get("ID", "")] = text
                elif tag == "PartyType":
                    refs.party_types[el.get("ID", "")] = text
                elif tag == "PartySubType":
                    refs.party_subtypes[el.get("ID", "")] = (text, el.get("PartyTypeID", ""))
                elif tag == "NamePartType":
                    refs.name_part_types[el.get("ID", "")] = text
                elif tag == "Country" and el.get("ID") and text:
                    refs.countries[el.get("ID", "")] = text
            elif tag == "DateOfIssue":
                issued = _xml_date(el)
            elif tag == "Location" and el.get("ID"):
                refs.location_countries[el.get("ID", "")] = [
                    refs.countries[c.get("CountryID", "")]
                    for c in _descendants(el, "LocationCountry")
                    if c.get("CountryID", "") in refs.countries
                ]
                el.clear()
            elif tag == "DistinctParty":
                got = _party(el, refs)
                if got:
                    parties[got[0]] = got[1]
                el.clear()
            elif tag == "SanctionsEntry":
                for m in _children(el, "SanctionsMeasure"):
                    comment = _child(m, "Comment")
                    if m.get("SanctionsTypeID") == "1" and comment is not None and (comment.text or "").strip():
                        programs.setdefault(el.get("ProfileID", ""), []).append(comment.text.strip())
                el.clear()
    except etree.XMLSyntaxError as exc:
        raise SanctionsFormatError(f"not well-formed XML: {exc}") from exc
    if issued is None:
        raise SanctionsFormatError("no DateOfIssue: not an SDN advanced XML publication")
    if len(issued) != 10:
        raise SanctionsFormatError(f"DateOfIssue is not a whole date: {issued}")
    entries = tuple(
        SdnEntry(
            e.uid,
            e.name,
            e.kind,
            tuple(dict.fromkeys(programs.get(pid, []))),
            e.aliases,
            e.birth_dates,
            e.countries,
            e.addresses,
        )
        for pid, e in parties.items()
    )
    if not entries:
        raise SanctionsFormatError("the XML holds no DistinctParty")
    return SanctionsList(ListVersion(issued, digest, "advanced-xml", tuple(files)), entries)


def load_files(paths: Iterable[Path | str], *, published: date | None = None) -> SanctionsList:
    """Read one advanced XML file, or the CSV set (SDN.CSV, optional ALT.CSV and ADD.CSV, by file name)."""
    ps = [Path(p) for p in paths]
    if not ps:
        raise SanctionsFormatError("no files given")
    for p in ps:
        if not p.is_file():
            raise SanctionsFormatError(f"{p}: no such file")
    xml = [p for p in ps if p.read_bytes()[:200].lstrip().startswith((b"<?xml", b"<Sanctions"))]
    if xml:
        if len(ps) != 1:
            raise SanctionsFormatError("give the advanced XML alone (it holds the whole list)")
        return parse_advanced_xml(xml[0], files=[xml[0].name])
    by_name = {p.name.lower(): p for p in ps}
    unknown = sorted(set(by_name) - {"sdn.csv", "alt.csv", "add.csv"})
    if unknown or "sdn.csv" not in by_name:
        raise SanctionsFormatError(
            f"CSV files must be named as published (SDN.CSV, ALT.CSV, ADD.CSV); got {', '.join(p.name for p in ps)}"
        )
    if published is None:
        raise SanctionsFormatError("the CSV files carry no publication date: give it (--published YYYY-MM-DD)")
    order = [n for n in ("sdn.csv", "alt.csv", "add.csv") if n in by_name]
    alt, add = (by_name[n].read_bytes() if n in by_name else None for n in ("alt.csv", "add.csv"))
    return parse_csv(
        by_name["sdn.csv"].read_bytes(), alt, add, published=published, files=[by_name[n].name for n in order]
    )
