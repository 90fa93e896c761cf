"""Reading buffered event files for `replay_events`, streamed: NDJSON, a JSON array, or an
envelope `{"events": [...]}`, each optionally gzip-compressed (told by its first bytes).

Each row comes out with the line it starts on and its text as found in the file, so that a
rejected row can be reported by line and written out for fixing. Memory stays bounded by the
largest row (at most MAX_ROW_BYTES), whatever the size of the file.

An NDJSON line that is not JSON is one bad row; the next line goes on. In an array or an
envelope, a syntax error ends the file at that line: what follows cannot be told apart from the
broken row (the rows before it still go through, and the error is reported).
"""
import codecs
import io
import json
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ingest.pipeline.decode import InvalidJSON, InvalidLine, end_of_nested, loads, unreadable

BLOCK_BYTES = 1024 * 1024
MAX_ROW_BYTES = 16 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
_SPACE = re.compile(r"[ \t\r\n\ufeff]*")  # JSON whitespace, and a byte-order mark at the start


def _space_end(text: str, pos: int) -> int:
    """Where the whitespace at `pos` ends (the pattern matches the empty string too: never None)."""
    return cast(re.Match, _SPACE.match(text, pos)).end()


class UnreadableFile(Exception):
    """The file, or the rest of it, cannot be read; the message says where and why."""


@dataclass(slots=True)
class Row:
    line: int
    text: str  # the row as found in the file
    item: object  # parsed JSON, or an InvalidLine


class BufferFile:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.size = self.path.stat().st_size
            self.mtime_ms = int(self.path.stat().st_mtime * 1000)
            with open(self.path, "rb") as probe:
                self.compressed = probe.read(2) == GZIP_MAGIC
        except OSError as error:
            raise UnreadableFile(f"cannot open: {error.strerror or error}") from None
        self._raw: io.BufferedReader | None = None
        self._gunzip: _Gunzip | None = None
        self.lines = 0  # lines read so far

    def position(self) -> int:
        """Bytes of the file read so far (compressed bytes for a gzip file)."""
        try:
            return self._raw.tell() if self._raw is not None and not self._raw.closed else self.size
        except (OSError, ValueError):
            return self.size

    @contextmanager
    def _opened(self) -> Iterator[io.BufferedIOBase]:
        with open(self.path, "rb") as raw:
            self._raw = raw
            self._gunzip = _Gunzip(raw) if self.compressed else None
            yield io.BufferedReader(self._gunzip or raw, BLOCK_BYTES)

    def _gzip_error(self) -> UnreadableFile | None:
        if self._gunzip is not None and self._gunzip.error:
            return UnreadableFile(f"after line {self.lines}: cannot read the rest: {self._gunzip.error}")
        return None

    def rows(self) -> Iterator[Row]:
        """Every row of the file in order. Raises UnreadableFile where reading has to stop."""
        try:
            with self._opened() as stream:
                kind = _kind(stream)
            with self._opened() as stream:
                if kind == "ndjson":
                    yield from self._ndjson_rows(stream)
                else:
                    scanner = _Scanner(stream)
                    try:
                        yield from scanner.rows(envelope=kind == "envelope")
                    finally:
                        self.lines = scanner.line
        except UnreadableFile as error:
            raise (self._gzip_error() or error) from None  # the cause, when the gzip data broke off
        except OSError as error:  # a disk error
            raise UnreadableFile(f"after line {self.lines}: cannot read: {error.strerror or error}") from None
        if broken := self._gzip_error():
            raise broken

    def _ndjson_rows(self, stream: io.BufferedIOBase) -> Iterator[Row]:
        while True:
            line = stream.readline(MAX_ROW_BYTES + 1)
            if not line:
                return
            self.lines += 1
            row = _ndjson_row(stream, self.lines, line)
            if row is not None:
                yield row


class _Gunzip(io.RawIOBase):
    """gzip decompression that hands out every byte it could decompress before an error, so that
    the rows before a truncated or corrupt end still go through (`gzip.GzipFile` loses the block
    it was reading). Concatenated gzip members are read one after the other."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self._raw = raw
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._input = b""
        self._output = b""
        self._in_member = False
        self.error = ""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Like a file's; a corrupt or truncated end reads as the end, and `error` says why."""
        try:
            return self._readinto(buffer)
        except (EOFError, zlib.error) as error:
            self.error = str(error)
            return 0

    def _readinto(self, buffer: Any) -> int:
        while not self._output:
            if not self._input:
                self._input = self._raw.read(BLOCK_BYTES)
                if not self._input:
                    if self._in_member:
                        raise EOFError("the gzip data ends before its end marker (a truncated file)")
                    return 0
            if not self._in_member:
                if not self._input.strip(b"\x00"):
                    self._input = b""  # zero padding after the last member
                    continue
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._in_member = True
            self._output = self._inflater.decompress(self._input, BLOCK_BYTES)
            if self._inflater.eof:
                self._input, self._in_member = self._inflater.unused_data, False
            else:
                self._input = self._inflater.unconsumed_tail
        size = min(len(buffer), len(self._output))
        buffer[:size] = self._output[:size]
        self._output = self._output[size:]
        return size


def _kind(stream: io.BufferedIOBase) -> str:
    """"array", "envelope" or "ndjson", from the start of the file.

    An object whose first key is "type" or "payload" is an event (NDJSON); another object that
    holds an "events" list is an envelope; anything else is read as NDJSON, line by line.
    """
    scanner = _Scanner(stream)
    first = scanner.peek()
    if first == "[":
        return "array"
    if first != "{":
        return "ndjson"
    try:
        return "envelope" if scanner.find_events_key() else "ndjson"
    except UnreadableFile:
        return "ndjson"


def _ndjson_row(stream: io.BufferedIOBase, number: int, line: bytes) -> Row | None:
    """The row of one NDJSON line; None for a blank line."""
    if len(line) > MAX_ROW_BYTES and not line.endswith(b"\n"):
        while (rest := stream.readline(BLOCK_BYTES)) and not rest.endswith(b"\n"):
            pass  # skip the rest of an overlong line
        text = line[:200].decode("utf-8", "replace")
        return Row(number, text, InvalidLine(f"line {number}: longer than {MAX_ROW_BYTES} bytes", line[:8192]))
    line = line.rstrip(b"\r\n")
    if number == 1:
        line = line.removeprefix(codecs.BOM_UTF8)
    if not line.strip():
        return None
    try:
        item = loads(line)
    except InvalidJSON as error:
        item = unreadable(error, line, f"line {number}: ")
    return Row(number, line.decode("utf-8", "replace"), item)


class _Scanner:
    """Top-level JSON values read from decoded text in blocks, with the line each one starts on."""

    def __init__(self, stream: io.BufferedIOBase) -> None:
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.json = json.JSONDecoder()
        self.text = ""
        self.pos = 0
        self.line = 1
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        if self.pos > BLOCK_BYTES:  # drop what was read; positions are relative to the text held
            self.text, self.pos = self.text[self.pos :], 0
        block = self.stream.read(BLOCK_BYTES)
        self.eof = not block
        self.text += self.decoder.decode(block, final=self.eof)
        return not self.eof

    def _advance(self, end: int) -> None:
        self.line += self.text.count("\n", self.pos, end)
        self.pos = end

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end), not consumed."""
        while True:
            self._advance(_space_end(self.text, self.pos))
            if self.pos < len(self.text) or not self._fill():
                return self.text[self.pos : self.pos + 1]

    def expect(self, allowed: str) -> str:
        found = self.peek()
        if not found or found not in allowed:
            wanted = " or ".join(f"'{char}'" for char in allowed)
            raise UnreadableFile(f"line {self.line}: invalid JSON: expected {wanted}, found {found[:1] or 'the end'}")
        self._advance(self.pos + 1)
        return found

    def value(self) -> tuple[int, str]:
        """The next JSON value: (the line it starts on, its text)."""
        self.peek()
        while True:
            try:
                _, end = self.json.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as error:
                if len(self.text) - self.pos <= MAX_ROW_BYTES and self._fill():
                    continue  # the value may go on in the next block
                line = self.line + self.text.count("\n", self.pos, error.pos)
                raise UnreadableFile(f"line {line}: invalid JSON: {error.msg}") from None
            except RecursionError:
                # Nested deeper than json can decode (issue 9): its text is still a row of its own,
                # rejected when it is read (decode.loads), and the rows after it go on.
                found = end_of_nested(self.text, self.pos)
                if found is None and len(self.text) - self.pos <= MAX_ROW_BYTES and self._fill():
                    continue
                if found is None:
                    raise UnreadableFile(f"line {self.line}: a value nested too deeply, without an end") from None
                end = found
            if end == len(self.text) and self._fill():
                continue  # a number at the end of a block may go on ("12" of "123")
            start = self.line
            text = self.text[self.pos : end]
            self._advance(end)
            return start, text

    def find_events_key(self) -> bool:
        """Step into the top-level object up to its "events" list; False when it is an event."""
        self.expect("{")
        while self.peek() == '"':
            _, key = self.value()
            key = json.loads(key)
            if key in ("type", "payload"):
                return False
            self.expect(":")
            if key == "events" and self.peek() == "[":
                return True
            self.value()  # another key's value: skipped
            if self.expect(",}") == "}":
                return False
        return False

    def rows(self, envelope: bool) -> Iterator[Row]:
        if envelope and not self.find_events_key():
            raise UnreadableFile("no \"events\" list found")
        self.expect("[")
        if self.peek() == "]":
            return
        while True:
            line, text = self.value()
            try:
                item = loads(text.encode())
            except InvalidJSON as error:  # NaN, Infinity: read by the scanner, refused like the API does
                item = unreadable(error, text.encode(), f"line {line}: ")
            yield Row(line, text, item)
            if self.expect(",]") == "]":
                break
        if not envelope and self.peek():
            raise UnreadableFile(f"line {self.line}: unexpected content after the array")
