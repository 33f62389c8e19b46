"""Name screening: normalisation and a Jaro-Winkler + Soundex matcher over a sanctions list's names.

The method follows OFAC's description of its search tool (FAQ 249): candidates are blocked by first letter
and by a phonetic key (Soundex), and scored by Jaro-Winkler per name part, parts matching by spelling or by
Soundex. (OFAC also takes the whole-name Jaro-Winkler when larger; on sorted parts its prefix bonus made
common names hit listed ones sharing a surname, so Braid scores parts only.) Names are compared as sets of
parts, so "YAN, Xiaobing" and "Xiaobing Yan" are the same name.

The index works on the vocabulary of name parts: a query part is compared (in C, by rapidfuzz) with every
listed part that shares its first letter or Soundex code, and only names holding close parts for (nearly)
all of the query's parts are scored, as the score's upper bound allows. Scoring every name would take the
same answer hundreds of times longer.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import jellyfish
from anyascii import anyascii
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

# Particles and legal-form words carry no identity: "AL ZAWAHIRI" is "ZAWAHIRI", "CIMEX, S.A." is "CIMEX".
STOPWORDS = frozenset(
    [
        "AL",
        "EL",
        "BIN",
        "BEN",
        "IBN",
        "ABU",
        "BINT",
        "DE",
        "DA",
        "DI",
        "DEL",
        "DELA",
        "LA",
        "LE",
        "VAN",
        "VON",
        "DER",
        "Y",
        "AND",
        "OF",
        "THE",
        "DR",
        "MR",
        "MRS",
        "MS",
        "SHEIKH",
        "LTD",
        "LLC",
        "INC",
        "CO",
        "CORP",
        "CORPORATION",
        "LIMITED",
        "COMPANY",
        "GMBH",
        "SA",
        "SRL",
        "SRO",
        "OU",
        "OOO",
        "PLC",
        "AG",
        "BV",
        "NV",
        "JSC",
        "PJSC",
        "AO",
    ]
)
_JOINERS = re.compile(r"['\u2018\u2019\u02bc`.]")
_NON_ALNUM = re.compile(r"[^A-Z0-9]+")
# A listed part this close (Jaro-Winkler) to a query part makes its names candidates; with the same
# Soundex code it also counts as matching. Without it, a part must be this close to count.
PART_FLOOR = 0.80
PART_MATCH = 0.90
QUERY_WEIGHT = 0.75


def normalise(name: str) -> str:
    """Upper-case ASCII with single spaces: diacritics and other scripts transliterated, punctuation gone.

    Apostrophes and full stops join (SA'ID -> SAID, S.A. -> SA); other punctuation separates (AL-ASSAD -> AL ASSAD).
    """
    text = anyascii(name).upper()
    text = _JOINERS.sub("", text)
    return _NON_ALNUM.sub(" ", text).strip()


_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "AE", "Ö": "OE", "Ü": "UE", "ß": "ss"})


def spellings(name: str) -> list[str]:
    """The name, and for German umlauts also their expanded spelling (MÜLLER is listed as MUELLER)."""
    expanded = name.translate(_GERMAN)
    return [name] if expanded == name else [name, expanded]


def tokens(name: str) -> tuple[str, ...]:
    """The name's identifying parts, sorted (token order does not matter); particles dropped unless all."""
    parts = normalise(name).split()
    kept = [p for p in parts if p not in STOPWORDS]
    return tuple(sorted(kept or parts))


@lru_cache(maxsize=65536)
def soundex(part: str) -> str:
    return jellyfish.soundex(part) if part else ""


@dataclass(frozen=True, slots=True)
class NameMatch:
    """One listed name close to the query."""

    entry_uid: int
    listed_name: str  # as the list spells it (primary name or alias)
    is_alias: bool
    score: float  # 0..1: the composite of per-part Jaro-Winkler (see composite_score)


@dataclass(frozen=True, slots=True)
class _Name:
    entry_uid: int
    text: str
    is_alias: bool
    parts: tuple[str, ...]


def _part_score(a: str, b: str, jw: float) -> float:
    """A part matches another when they differ by a typo (Jaro-Winkler >= PART_MATCH) or sound the same and are
    close (same Soundex, Jaro-Winkler >= PART_FLOOR: MOHAMMAD / MUHAMMED); it then scores its Jaro-Winkler.
    Anything less scores 0: short names are all similar to Jaro-Winkler (MARY / MASON 0.75), and letting such
    near-misses count is what makes common names hit."""
    if jw >= PART_MATCH or (jw >= PART_FLOOR and soundex(a) == soundex(b)):
        return jw
    return 0.0


def composite_score(query: Sequence[str], parts: Sequence[str], near: dict[str, dict[str, float]]) -> float:
    """How well the names cover each other: each part's best match in the other name, averaged per side, and
    the query's side weighted QUERY_WEIGHT (a customer giving fewer names than the list, e.g. no patronymic,
    still matches; a listed name covering only part of the customer's does not).

    ``near[listed part][query part]`` is the part score of every matching pair (absent: 0).
    """
    if not query or not parts:
        return 0.0
    best_q: dict[str, float] = {}
    listed = 0.0
    for c in parts:
        row = near.get(c)
        if not row:
            continue
        best = 0.0
        for q, s in row.items():
            best = max(best, s)
            if s > best_q.get(q, 0.0):
                best_q[q] = s
        listed += best
    q_side = sum(best_q.get(q, 0.0) for q in query)
    return QUERY_WEIGHT * q_side / len(query) + (1 - QUERY_WEIGHT) * listed / len(parts)


class NameIndex:
    """The names of a list (primary names and aliases), indexed for screening."""

    def __init__(self, names: Iterable[tuple[int, str, bool]]) -> None:
        """``names``: (entry uid, name as listed, is_alias)."""
        self._names: list[_Name] = []
        seen: set[tuple[int, tuple[str, ...]]] = set()
        for uid, text, is_alias in names:
            parts = tokens(text)
            if not parts or (uid, parts) in seen:
                continue
            seen.add((uid, parts))
            self._names.append(_Name(uid, text, is_alias, parts))
        postings: dict[str, list[int]] = defaultdict(list)
        for i, n in enumerate(self._names):
            for p in set(n.parts):
                postings[p].append(i)
        self._postings = dict(postings)
        # blocking: the vocabulary by first letter, and by Soundex code
        by_letter: dict[str, list[str]] = defaultdict(list)
        by_code: dict[str, list[str]] = defaultdict(list)
        for p in sorted(self._postings):
            by_letter[p[0]].append(p)
            by_code[soundex(p)].append(p)
        self._by_letter = dict(by_letter)
        self._by_code = dict(by_code)

    def __len__(self) -> int:
        return len(self._names)

    def _similar_parts(self, q: str) -> dict[str, float]:
        """Listed parts near ``q``: same first letter and Jaro-Winkler >= PART_FLOOR, or the same Soundex code."""
        found: dict[str, float] = {}
        block = self._by_letter.get(q[0], ())
        if block:
            for part, jw, _ in process.extract(
                q, block, scorer=JaroWinkler.normalized_similarity, score_cutoff=PART_FLOOR, limit=None
            ):
                found[part] = _part_score(q, part, jw)
        for part in self._by_code.get(soundex(q), ()):
            if part not in found:
                found[part] = _part_score(q, part, JaroWinkler.normalized_similarity(q, part))
        return found

    def search(self, name: str, threshold: float) -> list[NameMatch]:
        """Listed names scoring at least ``threshold``, best first (each spelling of the name tried)."""
        found = [m for spelling in spellings(name) for m in self._search(spelling, threshold)]
        return _best_per_name(found)

    def _search(self, name: str, threshold: float) -> list[NameMatch]:
        query = tokens(name)
        if not query:
            return []
        near: dict[str, dict[str, float]] = defaultdict(dict)
        reach: dict[str, set[int]] = {}
        for q in set(query):
            names: set[int] = set()
            for part, s in self._similar_parts(q).items():
                if s > 0:  # a near part that does not count as matching cannot raise a score
                    near[part][q] = s
                    names.update(self._postings[part])
            reach[q] = names
        # A name matching k of the query's n parts scores at most QUERY_WEIGHT * k / n + (1 - QUERY_WEIGHT):
        # only names matching at least k_min parts can reach the threshold (at 0.90, all parts up to 7).
        n = len(query)
        k_min = max(1, math.ceil(n * (threshold - 0.00005 - (1 - QUERY_WEIGHT)) / QUERY_WEIGHT - 1e-9))
        weight = Counter(query)
        if k_min >= n:
            cand = set.intersection(*sorted(reach.values(), key=len))
        else:
            hits: Counter[int] = Counter()
            for q, names in reach.items():
                for i in names:
                    hits[i] += weight[q]
            cand = {i for i, k in hits.items() if k >= k_min}
        return self._scored(query, (self._names[i] for i in cand), near, threshold)

    def search_naive(self, name: str, threshold: float) -> list[NameMatch]:
        """The same answer by scoring every listed name (the benchmark's baseline: no blocking)."""
        found = [m for spelling in spellings(name) for m in self._search_naive(spelling, threshold)]
        return _best_per_name(found)

    def _search_naive(self, name: str, threshold: float) -> list[NameMatch]:
        query = tokens(name)
        if not query:
            return []
        out: list[NameMatch] = []
        for n in self._names:
            near: dict[str, dict[str, float]] = defaultdict(dict)
            for q in query:
                for c in n.parts:
                    jw = JaroWinkler.normalized_similarity(q, c)
                    if (q[0] == c[0] and jw >= PART_FLOOR) or soundex(q) == soundex(c):
                        near[c][q] = _part_score(q, c, jw)
            out += self._scored(query, [n], near, threshold)
        out.sort(key=lambda m: (-m.score, m.entry_uid, m.listed_name))
        return out

    @staticmethod
    def _scored(
        query: tuple[str, ...], names: Iterable[_Name], near: dict[str, dict[str, float]], threshold: float
    ) -> list[NameMatch]:
        out: list[NameMatch] = []
        for n in names:
            score = round(composite_score(query, n.parts, near), 4)
            if score >= threshold:
                out.append(NameMatch(n.entry_uid, n.text, n.is_alias, score))
        out.sort(key=lambda m: (-m.score, m.entry_uid, m.listed_name))
        return out


def _best_per_name(found: list[NameMatch]) -> list[NameMatch]:
    best: dict[tuple[int, str], NameMatch] = {}
    for m in found:
        k = (m.entry_uid, m.listed_name)
        if k not in best or m.score > best[k].score:
            best[k] = m
    return sorted(best.values(), key=lambda m: (-m.score, m.entry_uid, m.listed_name))
