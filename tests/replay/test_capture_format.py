"""Braid's capture format: legacy captures converted replay identically; bad data is reported with file and line."""

from __future__ import annotations

import gzip
import io

import pytest

from connectors.capture import CaptureError, is_braid_file, read_capture
from connectors.recording import capture_files, convert_legacy
from connectors.replay import Replayer, replay_files
from gateway.book_commands import replay as book_replay

CAPTURES = ["binance/cryptofeed_2021-10-12", "kraken/cryptofeed_2021-04-17", "huobi/cryptofeed_2021-04-17"]


def _legacy(samples, d):
    return sorted(p for p in (samples / d).iterdir())


def _books(result):
    return [(f.venue, s, b.to_json(10_000)) for f in result.feeds for s, b in sorted(f.books.items())]


@pytest.mark.parametrize("capture", CAPTURES)
def test_converted_capture_replays_to_the_same_books_as_the_original(samples, tmp_path, capture):
    files = _legacy(samples, capture)
    convert_legacy(files, tmp_path / "conv", recording=capture.replace("/", "_"))
    parts = capture_files(tmp_path / "conv")
    assert parts and all(is_braid_file(p) for p in parts)
    original, converted = replay_files(files), replay_files([tmp_path / "conv"])
    assert _books(converted) == _books(original)
    assert (converted.frames, converted.snapshots_delivered) == (original.frames, original.snapshots_delivered)
    assert any(b.synced for f in converted.feeds for b in f.books.values())


def test_shipped_converted_captures_match_the_originals(samples):
    from tests.conftest import SAMPLES

    root = SAMPLES.parent / "converted"
    for capture in CAPTURES:
        folder = root / capture.replace("/", "_")
        assert _books(replay_files([folder])) == _books(replay_files(_legacy(samples, capture)))


def _gz_lines(path, lines: list[bytes]) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(b"".join(lines))
    path.write_bytes(buf.getvalue())


def _sample_lines(generated) -> list[bytes]:
    with gzip.open(capture_files(generated)[0], "rb") as fh:
        return fh.read().splitlines(keepends=True)


def test_truncated_gzip_is_reported_with_file_and_line_then_skipped_or_stopped(generated, tmp_path):
    whole = capture_files(generated)[0].read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    errors: list[CaptureError] = []
    good = list(read_capture(cut, skip_bad=True, errors=errors))
    assert len(errors) == 1 and errors[0].file == str(cut)
    assert errors[0].line_no in (len(good) + 1, len(good) + 2)  # the line after the last good one (or the cut one)
    assert "truncated" in errors[0].reason
    with pytest.raises(CaptureError) as stop:
        list(read_capture(cut))
    assert str(cut) in str(stop.value)
    # skip: the rest goes on (the good lines of the cut file, and the other files)
    r = Replayer([cut], skip_bad=True)
    r.run()
    assert r.result.errors and r.result.frames > 0


def test_corrupt_line_and_truncated_last_line_are_reported_with_their_line(generated, tmp_path):
    lines = _sample_lines(generated)[:200]
    bad = list(lines)
    bad[50] = b'{"t": 1, "v": "binance", "c": "binance-1", "d": "recv", "p": "oops"\n'  # missing brace
    bad[-1] = bad[-1][:-20]  # the writer died mid-line
    path = tmp_path / "bad.jsonl.gz"
    _gz_lines(path, bad)
    errors: list[CaptureError] = []
    list(read_capture(path, skip_bad=True, errors=errors))
    assert [(e.file, e.line_no) for e in errors] == [(str(path), 51), (str(path), 200)]
    assert "truncated line" in errors[1].reason
    with pytest.raises(CaptureError, match=r"bad\.jsonl\.gz:51: "):
        Replayer([path])


def test_book_replay_command_reads_both_formats(samples, tmp_path, capsys):
    import argparse

    files = _legacy(samples, CAPTURES[0])
    convert_legacy(files, tmp_path / "conv", recording="bn")
    outs = []
    for inputs in (files, capture_files(tmp_path / "conv")):
        buf = io.StringIO()
        assert book_replay(argparse.Namespace(files=inputs, depth=5, skip_bad=False), None, buf) == 0  # type: ignore[arg-type]
        outs.append(buf.getvalue())
    assert outs[0] == outs[1] and outs[0].count("\n") == 4
