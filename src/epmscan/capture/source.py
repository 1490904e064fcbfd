"""Reading a pcap or pcapng file one frame at a time (scapy's raw readers).

scapy's ``RawPcapReader`` opens pcap (either byte order, micro- or nanosecond stamps),
switches itself to ``RawPcapNgReader`` for pcapng (several interfaces with their own
link types and time resolutions), and reads gzip-compressed files of either. Only
``scapy.utils`` is imported, and only when a file is opened: ``import scapy.all`` takes
seconds and is never needed. Frames come out as bytes and are decoded by
:mod:`epmscan.capture.frames`; nothing is kept after a frame is handed on, so memory does
not depend on the size of the file.

A file that is not a capture raises :class:`CaptureFileError` (the CLI's one-line exit 2).
A damaged or truncated capture ends the iteration where reading stopped, with a note in
:attr:`CaptureSource.notes`; scapy's own warnings are collected there instead of being
printed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

from epmscan.capture.frames import FrameDecoder
from epmscan.capture.records import Record
from epmscan.errors import UsageError

_READ_LIMIT = 4 * 0xFFFF
"""Largest frame kept, as much as scapy reads of one record (loopback and offloaded
captures exceed 64 KiB)."""
_PCAP_HEADER = 24
_PCAP_RECORD_HEADER = 16
_NOTE_LIMIT = 20


class CaptureFileError(UsageError):
    """The file cannot be read as a capture at all."""


class _CollectWarnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.messages) < _NOTE_LIMIT:
            self.messages.append(record.getMessage())


def _open_reader(path: str) -> Any:
    try:
        from scapy.error import Scapy_Exception
        from scapy.utils import RawPcapReader
    except ImportError as exc:  # pragma: no cover - scapy comes with the test extra
        raise CaptureFileError(
            f"{path}: reading captures needs scapy (pip install 'epmscan[pcap]'): {exc}"
        ) from None
    try:
        return RawPcapReader(path)
    except Scapy_Exception as exc:
        if "No data" in str(exc):
            raise CaptureFileError(f"{path}: empty file, not a pcap or pcapng capture") from None
        kind = _capture_kind(path)
        if kind is not None:
            raise CaptureFileError(
                f"{path}: a {kind} file whose header is cut short or damaged: nothing can be read"
            ) from None
        raise CaptureFileError(f"{path}: not a pcap or pcapng capture") from None
    except OSError as exc:
        raise CaptureFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (EOFError, ValueError, MemoryError) as exc:
        raise CaptureFileError(f"{path}: not a pcap or pcapng capture ({exc})") from None


_MAGICS = {
    b"\xa1\xb2\xc3\xd4": "pcap",
    b"\xd4\xc3\xb2\xa1": "pcap",
    b"\xa1\xb2\x3c\x4d": "pcap",
    b"\x4d\x3c\xb2\xa1": "pcap",
    b"\x0a\x0d\x0d\x0a": "pcapng",
}


def _capture_kind(path: str) -> str | None:
    """``pcap``/``pcapng`` when the file starts like one (uncompressed), else None."""
    try:
        with open(path, "rb") as file:
            return _MAGICS.get(file.read(4))
    except OSError:
        return None


class CaptureSource:
    """Iterates the records of one capture file; ``notes`` says what could not be read.

    Use as a context manager (the file is closed on exit). Opening raises
    :class:`CaptureFileError` when the file is missing, unreadable or not a capture.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        if os.path.isdir(path):
            raise CaptureFileError(f"{path}: is a directory, not a capture")
        self._reader = _open_reader(path)
        self.pcapng = type(self._reader).__name__ == "RawPcapNgReader"
        self.gzip = type(self._reader.f).__name__ == "GzipFile"
        self.decoder = FrameDecoder()
        self.frames = 0
        self.first_time: float | None = None
        self.last_time: float | None = None
        self.complete = True
        self.notes: list[str] = []
        self._warnings = _CollectWarnings()

    @property
    def format(self) -> str:
        name = "pcapng" if self.pcapng else "pcap"
        return f"{name}+gzip" if self.gzip else name

    def __enter__(self) -> CaptureSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._reader.close()
        except OSError:
            pass

    def __iter__(self) -> Iterator[Record]:
        logger = logging.getLogger("scapy.runtime")
        propagate, filters = logger.propagate, logger.filters[:]
        logger.addHandler(self._warnings)
        logger.propagate = False
        # scapy's frequency filter drops a warning seen often: every file must get its own.
        logger.filters = []
        try:
            yield from self._records()
        finally:
            logger.removeHandler(self._warnings)
            logger.propagate = propagate
            logger.filters = filters
            self._finish_notes()

    def _records(self) -> Iterator[Record]:
        reader = self._reader
        read = reader._read_packet
        decode = self.decoder.decode
        pcapng = self.pcapng
        linktype = 0 if pcapng else reader.linktype
        scale = 1e-9 if getattr(reader, "nano", False) else 1e-6
        consumed = _PCAP_HEADER
        frame = 0
        cut = 0
        while True:
            try:
                data, meta = read(_READ_LIMIT)
            except EOFError:
                break
            except Exception as exc:  # a damaged file can upset the reader in many ways
                self.complete = False
                self.notes.append(
                    f"reading stopped after frame {frame}: the file is damaged there ({exc})"
                )
                break
            frame += 1
            truncated = False
            if pcapng:
                if meta.tshigh is None:
                    time = 0.0
                else:
                    time = ((meta.tshigh << 32) | meta.tslow) / meta.tsresol
                linktype = meta.linktype
                caplen = len(data)
            else:
                time = meta.sec + meta.usec * scale
                caplen = meta.caplen
                consumed += _PCAP_RECORD_HEADER + caplen
                truncated = len(data) < min(caplen, _READ_LIMIT)
            if caplen < meta.wirelen:
                cut += 1
            if self.first_time is None:
                self.first_time = time
            self.last_time = time
            self.frames = frame
            record = decode(linktype, data, frame, time)
            if record is not None:
                yield record
            if truncated:
                self.complete = False
                self.notes.append(
                    f"the file ends inside frame {frame} ({len(data)} of its {caplen} "
                    "bytes): the capture is truncated; what came before was read"
                )
                return
        if cut:
            self.notes.append(
                f"{cut} frames were cut to the capture's snapshot length: payload beyond it "
                "was not recorded (capture with -s 0)"
            )
        self._check_end(None if pcapng else consumed)

    def _check_end(self, consumed: int | None) -> None:
        """Bytes left after the last record: a file cut inside a record header or block."""
        if self.gzip or not self.complete:
            return
        try:
            position = self._reader.f.tell() if consumed is None else consumed
            size = os.fstat(self._reader.f.fileno()).st_size
        except (OSError, ValueError):
            return
        if position < size:
            self.complete = False
            self.notes.append(
                f"{size - position} bytes after frame {self.frames} could not be read: "
                "the capture is truncated or damaged there"
            )

    def _finish_notes(self) -> None:
        for message in self._warnings.messages:
            text = message.strip()
            if text == "Pcap: packet has been truncated":
                continue
            if "too short" in text or "Invalid" in text or "blocklen" in text:
                if self.complete:
                    self.notes.append(
                        f"the file ends or is damaged after frame {self.frames}: "
                        "what came before was read"
                    )
                self.complete = False
            self.notes.append(f"capture reader: {text}")
        self._warnings.messages.clear()
        stats = self.decoder.stats
        for linktype, count in sorted(stats.link_types.items()):
            self.notes.append(f"{count} frames of link type {linktype} were skipped (not read)")
        if stats.fragments:
            self.notes.append(
                f"{stats.fragments} IP fragments were skipped (only first fragments are read)"
            )
