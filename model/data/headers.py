"""Image and disparity file headers: sizes read without decoding, and checks before a decode.

Two uses:
- `file_size(path)` reads only a file's header (PNG IHDR and its IEND trailer, the JPEG frame
  header, the PFM / .npy header and the file's length), so every sample of an annotation file can
  be checked (exists, readable header, sizes) before anything is written, at a few hundred bytes a
  file.
- `check_encoded(path, raw)` runs before `cv2.imdecode`: an empty buffer made OpenCV raise an
  assertion, a header claiming 100000 x 100000 pixels another one (its pixel limit), and a PNG with a
  torn or damaged chunk made libpng print its own line on the terminal beside our error. Checking
  the PNG chunk structure and the critical chunks' CRCs first turns each into one `DataError`.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from pathlib import Path

from model.errors import DataError

__all__ = ["MAX_SIDE", "MAX_PIXELS", "file_size", "image_size", "check_encoded"]

#: the largest image side and pixel count read (ETH3D's DSLR images are 6048 x 4032)
MAX_SIDE = 16384
MAX_PIXELS = 1 << 26

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IEND = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
_PFM_HEADER = re.compile(rb"\A\s*(PF|Pf)\s+(\d+)\s+(\d+)\s+(\S+)[ \t\r]*\n")
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic...), not DHT/JPG/DAC
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _check_dims(path: str | Path, width: int, height: int) -> tuple[int, int]:
    if width <= 0 or height <= 0:
        raise DataError(f"{path}: cannot decode image: its header declares {width}x{height} pixels")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise DataError(f"{path}: cannot decode image: its header declares {width}x{height} pixels; images up to "
                        f"{MAX_SIDE} px a side and {MAX_PIXELS} pixels are read")
    return height, width


def _png_ihdr(path: str | Path, head: bytes) -> tuple[int, int]:
    if len(head) < 33 or head[12:16] != b"IHDR" or struct.unpack(">I", head[8:12])[0] != 13:
        raise DataError(f"{path}: cannot decode image: truncated or damaged PNG header (no IHDR chunk)")
    if zlib.crc32(head[12:29]) != struct.unpack(">I", head[29:33])[0]:
        raise DataError(f"{path}: cannot decode image: damaged PNG header (IHDR checksum mismatch)")
    width, height = struct.unpack(">II", head[16:24])
    return _check_dims(path, width, height)


def _jpeg_sof(path: str | Path, read_at) -> tuple[int, int]:
    """Walk the JPEG segments from the start to the first frame header; `read_at(offset, n)`."""
    offset = 2
    while True:
        marker = read_at(offset, 4)
        if len(marker) < 4:
            raise DataError(f"{path}: cannot decode image: truncated JPEG (no frame header)")
        if marker[0] != 0xFF:
            raise DataError(f"{path}: cannot decode image: damaged JPEG (bad segment marker at byte {offset})")
        kind = marker[1]
        if kind == 0xFF:  # fill byte
            offset += 1
            continue
        if kind in (0x01,) or 0xD0 <= kind <= 0xD8:  # markers without a length
            offset += 2
            continue
        if kind == 0xD9 or kind == 0xDA:
            raise DataError(f"{path}: cannot decode image: damaged JPEG (image data before a frame header)")
        length = struct.unpack(">H", marker[2:4])[0]
        if kind in _SOF:
            frame = read_at(offset + 4, 5)
            if len(frame) < 5:
                raise DataError(f"{path}: cannot decode image: truncated JPEG frame header")
            height, width = struct.unpack(">HH", frame[1:5])
            return _check_dims(path, width, height)
        if length < 2:
            raise DataError(f"{path}: cannot decode image: damaged JPEG (segment length {length} at byte {offset})")
        offset += 2 + length


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(height, width) from a PNG / JPEG / BMP header (a PNG must also end in its IEND chunk); None
    for other formats, which only a decode can check. DataError for an empty, torn or absurd file."""
    with open(path, "rb") as fh:
        head = fh.read(64)
        if not head:
            raise DataError(f"{path}: empty file (0 bytes); not an image")
        if head.startswith(_PNG_SIGNATURE):
            size = _png_ihdr(path, head)
            fh.seek(0, os.SEEK_END)
            if fh.tell() < 45:
                raise DataError(f"{path}: cannot decode image: truncated PNG ({fh.tell()} bytes)")
            fh.seek(-12, os.SEEK_END)
            if fh.read(12) != _IEND:
                raise DataError(f"{path}: cannot decode image: truncated PNG (the file does not end with its IEND "
                                f"chunk)")
            return size
        if head.startswith(b"BM") and len(head) >= 26:  # BMP: BITMAPINFOHEADER width, height (negative: top-down)
            width, height = struct.unpack("<ii", head[18:26])
            return _check_dims(path, width, abs(height))
        if head.startswith(b"\xff\xd8"):
            def read_at(offset: int, count: int) -> bytes:
                fh.seek(offset)
                return fh.read(count)
            return _jpeg_sof(path, read_at)
    return None


def _pfm_size(path: str | Path) -> tuple[int, int]:
    with open(path, "rb") as fh:
        head = fh.read(256)
        fh.seek(0, os.SEEK_END)
        length = fh.tell()
    match = _PFM_HEADER.match(head)
    if match is None:
        raise DataError(f"{path}: not a PFM file (bad header; expected 'Pf'/'PF', width height, scale)")
    kind, width, height = match.group(1), int(match.group(2)), int(match.group(3))
    height, width = _check_dims(path, width, height)
    expected = match.end() + width * height * (3 if kind == b"PF" else 1) * 4
    if length < expected:
        raise DataError(f"{path}: truncated PFM data ({length - match.end()} bytes, expected "
                        f"{expected - match.end()} for {width}x{height})")
    return height, width


def _npy_size(path: str | Path) -> tuple[int, int]:
    import numpy as np

    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, _ = read(fh)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise DataError(f"{path}: cannot read .npy header ({str(exc).splitlines()[0] if str(exc) else exc})") from None
    dims = [d for d in shape if d != 1]
    if len(dims) != 2:
        raise DataError(f"{path}: .npy disparity must be an HxW array, got shape {tuple(shape)}")
    return _check_dims(path, dims[1], dims[0])


def file_size(path: str | Path) -> tuple[int, int] | None:
    """(height, width) of an image or disparity file from its header alone; None when the format
    has no header we read (a decode checks it). Raises DataError naming the file."""
    try:
        suffix = Path(path).suffix.lower()
        if suffix == ".pfm":
            return _pfm_size(path)
        if suffix == ".npy":
            return _npy_size(path)
        return image_size(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror or exc})") from None


def check_encoded(path: str | Path, raw: bytes) -> None:
    """Raise DataError for an encoded image OpenCV would assert on or libpng would complain about."""
    if not raw:
        raise DataError(f"{path}: empty file (0 bytes); not an image")
    if raw.startswith(_PNG_SIGNATURE):
        _png_ihdr(path, raw[:33])
        _png_chunks(path, raw)
    elif raw.startswith(b"\xff\xd8"):
        _jpeg_sof(path, lambda offset, count: raw[offset:offset + count])
    elif raw.startswith(b"BM") and len(raw) >= 26:
        width, height = struct.unpack("<ii", raw[18:26])
        _check_dims(path, width, abs(height))


def _png_chunks(path: str | Path, raw: bytes) -> None:
    """Every chunk whole, the critical chunks' checksums right, IEND present."""
    view = memoryview(raw)
    offset = 8
    while offset + 12 <= len(raw):
        length = struct.unpack(">I", raw[offset:offset + 4])[0]
        kind = raw[offset + 4:offset + 8]
        end = offset + 12 + length
        if end > len(raw):
            raise DataError(f"{path}: cannot decode image: truncated PNG (chunk {kind.decode('latin-1')!r} at byte "
                            f"{offset} is cut off)")
        if kind[:1].isupper():  # critical chunk: libpng fails on a bad checksum
            crc = struct.unpack(">I", raw[end - 4:end])[0]
            if zlib.crc32(view[offset + 4:end - 4]) != crc:
                raise DataError(f"{path}: cannot decode image: damaged PNG (checksum mismatch in chunk "
                                f"{kind.decode('latin-1')!r} at byte {offset})")
        if kind == b"IEND":
            return
        offset = end
    raise DataError(f"{path}: cannot decode image: truncated PNG (no IEND chunk)")
