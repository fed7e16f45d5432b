"""Reading and writing stereo files: PFM, PNG / JPEG images and disparity encodings.

Every reader raises `DataError` naming the path and what is wrong, so a bad file
is reported in one line instead of surfacing as a shape error later.
Disparity decoders return `(disp, valid)`: float32 HxW and bool HxW, where
`valid` only reflects the file's own "no GT" encoding (0, inf, NaN); range and
mask checks are applied by the dataset.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from model._paths import missing_file
from model.data.headers import check_encoded
from model.errors import DataError

__all__ = [
    "read_pfm",
    "write_pfm",
    "read_image",
    "write_png",
    "read_png_raw",
    "read_mask",
    "read_disparity_pfm",
    "read_disparity_png",
    "read_disparity_rgb_encoded",
    "read_disparity_npy",
    "read_disparity_generic",
]

# "PF"/"Pf", width, height, scale separated by any whitespace; the scale line may
# carry trailing blanks (FlyingThings3D writes "Pf \n960 540 \n-1.0\n").
_PFM_HEADER = re.compile(rb"\A\s*(PF|Pf)\s+(\d+)\s+(\d+)\s+(\S+)[ \t\r]*\n")


def _read_bytes(path: str | Path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {missing_file(path)}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror})") from None


def read_pfm(path: str | Path) -> np.ndarray:
    """Read a PFM file.

    Args:
        path: a 'Pf' (1 channel) or 'PF' (3 channel) file, either endianness
            (negative scale = little-endian), rows stored bottom-up.
    Returns:
        float32 array HxW or HxWx3, top row first.
    """
    raw = _read_bytes(path)
    match = _PFM_HEADER.match(raw[:256])
    if match is None:
        head = raw[:20].decode("ascii", errors="replace").replace("\n", "\\n")
        raise DataError(f"{path}: not a PFM file (bad header {head!r}; expected 'Pf'/'PF', width height, scale)")
    kind, width, height, scale_text = match.groups()
    try:
        scale = float(scale_text)
    except ValueError:
        raise DataError(f"{path}: bad PFM scale {scale_text.decode(errors='replace')!r}") from None
    width, height = int(width), int(height)
    if width == 0 or height == 0 or scale == 0.0 or not np.isfinite(scale):
        raise DataError(f"{path}: bad PFM header (size {width}x{height}, scale {scale}); need size > 0, scale != 0")
    channels = 3 if kind == b"PF" else 1
    expected = width * height * channels * 4
    data = raw[match.end():]
    if len(data) < expected:
        raise DataError(f"{path}: truncated PFM data ({len(data)} bytes, expected {expected} for {width}x{height}x{channels})")
    dtype = "<f4" if scale < 0 else ">f4"
    array = np.frombuffer(data, dtype=dtype, count=width * height * channels)
    array = array.reshape(height, width, channels)[::-1]  # stored bottom-up
    array = array.astype(np.float32)  # native byte order, contiguous copy
    return array[:, :, 0] if channels == 1 else array


def write_pfm(path: str | Path, array: np.ndarray, little_endian: bool = True) -> None:
    """Write a float array (HxW, HxWx1 or HxWx3) as PFM, rows bottom-up.

    Args:
        path: output file.
        array: the image, top row first.
        little_endian: byte order (the scale's sign records it).
    """
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise DataError(f"{path}: cannot write PFM of shape {array.shape}; need HxW or HxWx3")
    kind = "PF" if array.ndim == 3 else "Pf"
    height, width = array.shape[:2]
    scale = -1.0 if little_endian else 1.0
    body = np.ascontiguousarray(array[::-1]).astype("<f4" if little_endian else ">f4")
    try:
        with open(path, "wb") as handle:
            handle.write(f"{kind}\n{width} {height}\n{scale}\n".encode("ascii"))
            handle.write(body.tobytes())
    except OSError as exc:
        raise DataError(f"{path}: cannot write PFM ({exc.strerror})") from None


def read_png_raw(path: str | Path) -> np.ndarray:
    """Decode any image file as stored (cv2 channel order, original bit depth)."""
    raw = _read_bytes(path)
    check_encoded(path, raw)  # empty / torn / absurd files: one DataError, no assertion, no libpng line
    try:
        image = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # a format whose header we do not read (BMP, TIFF, ...) declaring too much
        reason = str(exc).strip().splitlines()[-1].split(") ", 1)[-1] if str(exc).strip() else "decoder error"
        raise DataError(f"{path}: cannot decode image ({reason})") from None
    if image is None:
        raise DataError(f"{path}: cannot decode image (corrupt or not a PNG/JPEG file)")
    return image


def read_image(path: str | Path) -> np.ndarray:
    """Read a PNG / JPEG as uint8 HxWx3 RGB.

    Grayscale is replicated to 3 channels, an alpha channel is dropped, and
    16-bit images are scaled to 8 bits (v / 257); float images are rejected.
    """
    image = read_png_raw(path)
    if image.dtype == np.uint16:
        image = np.round(image.astype(np.float32) / 257.0).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise DataError(f"{path}: unsupported image type {image.dtype}; need 8- or 16-bit PNG/JPEG")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    channels = image.shape[2]
    if channels == 1 or channels == 2:  # gray (+ alpha)
        return np.repeat(image[:, :, :1], 3, axis=2)
    if channels in (3, 4):
        return np.ascontiguousarray(image[:, :, 2::-1])  # BGR(A) -> RGB
    raise DataError(f"{path}: unsupported image with {channels} channels; need 1, 3 or 4")


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write uint8 HxWx3 RGB, or HxW uint8 / uint16, as PNG."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        image = image[:, :, ::-1]  # RGB -> BGR for cv2
    elif not (image.ndim == 2 and image.dtype in (np.uint8, np.uint16)):
        raise DataError(f"{path}: cannot write PNG of shape {image.shape} {image.dtype}; need uint8 HxWx3 or uint8/uint16 HxW")
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image))
    try:
        if not ok:
            raise OSError(0, "encoding failed")
        Path(path).write_bytes(encoded.tobytes())
    except OSError as exc:
        raise DataError(f"{path}: cannot write PNG ({exc.strerror})") from None


def _single_channel(path: str | Path, image: np.ndarray, what: str) -> np.ndarray:
    if image.ndim == 3:
        raise DataError(f"{path}: {what} must be a single-channel PNG, got {image.shape[2]} channels")
    return image


def read_mask(path: str | Path) -> np.ndarray:
    """Read a non-occlusion mask PNG: bool HxW, True where the value is 255.

    Middlebury's mask0nocc.png uses 255 = non-occluded, 128 = occluded, 0 = no
    GT; only 255 counts as valid (non-occluded evaluation).
    """
    image = read_png_raw(path)
    if image.ndim == 3:
        image = image[:, :, 0]
    if image.dtype == np.uint16:
        return image == 65535
    return image == 255


def read_disparity_pfm(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """PFM disparity (first channel if 3); inf / NaN mean no GT."""
    disp = read_pfm(path)
    if disp.ndim == 3:
        disp = np.ascontiguousarray(disp[:, :, 0])
    return disp, np.isfinite(disp)


def read_disparity_png(path: str | Path, divisor: float, allow_8bit: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Integer PNG disparity `d = v / divisor`, 0 = no GT.

    Args:
        path: the PNG (uint16, e.g. KITTI / 256, CREStereo / 32).
        divisor: the encoding's divisor.
        allow_8bit: accept uint8 files (e.g. Middlebury 2003 disp2.png, / 4).
    """
    image = _single_channel(path, read_png_raw(path), "disparity")
    if image.dtype != np.uint16 and not (allow_8bit and image.dtype == np.uint8):
        need = "8- or 16-bit" if allow_8bit else "16-bit"
        raise DataError(f"{path}: disparity PNG is {image.dtype}, need {need} (set disp_png_divisor for 8-bit files)")
    valid = image > 0
    return image.astype(np.float32) / np.float32(divisor), valid


def read_disparity_rgb_encoded(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """FSD / Isaac RGB PNG `d = (R*255*255 + G*255 + B) / 1000`, or a PFM; 0 / inf = no GT."""
    if Path(path).suffix.lower() == ".pfm":
        disp, valid = read_disparity_pfm(path)
        return disp, valid & (disp != 0)
    image = read_png_raw(path)
    if image.ndim != 3 or image.shape[2] < 3 or image.dtype != np.uint8:
        raise DataError(f"{path}: encoded disparity must be an 8-bit RGB PNG, got shape {image.shape} {image.dtype}")
    bgr = image[:, :, :3].astype(np.float32)
    disp = (bgr[:, :, 2] * (255.0 * 255.0) + bgr[:, :, 1] * 255.0 + bgr[:, :, 0]) / 1000.0
    return disp, disp > 0


def read_disparity_npy(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A .npy float array HxW (or 1xHxW / HxWx1); inf / NaN / 0 mean no GT."""
    if not Path(path).is_file():
        raise DataError(f"{path}: file not found")
    try:
        disp = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read .npy ({exc})") from None
    disp = np.squeeze(disp)
    if disp.ndim != 2 or not (np.issubdtype(disp.dtype, np.integer) or np.issubdtype(disp.dtype, np.floating)):
        raise DataError(f"{path}: .npy disparity must be a real (integer or float) HxW array, got shape "
                        f"{disp.shape} {disp.dtype}")
    disp = disp.astype(np.float32)
    return disp, np.isfinite(disp) & (disp != 0)


def read_disparity_generic(path: str | Path, png_divisor: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode by extension: .pfm, .npy, or PNG (uint16 / 256 unless `png_divisor` is given)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".pfm":
        return read_disparity_pfm(path)
    if suffix == ".npy":
        return read_disparity_npy(path)
    if suffix == ".png":
        if png_divisor is None:
            return read_disparity_png(path, 256.0)
        return read_disparity_png(path, png_divisor, allow_8bit=True)
    raise DataError(f"{path}: unknown disparity file type {suffix!r}; need .pfm, .png or .npy")
