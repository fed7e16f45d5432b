"""PFM / image / disparity decoding, against hand-made files and the shared real samples."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from model.data import io
from model.errors import DataError


@pytest.mark.parametrize("little_endian", [True, False])
@pytest.mark.parametrize("shape", [(5, 7), (4, 6, 3)])
def test_pfm_round_trip(tmp_path, little_endian, shape):
    array = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    array.flat[3] = np.inf
    path = tmp_path / "a.pfm"
    io.write_pfm(path, array, little_endian=little_endian)
    back = io.read_pfm(path)
    assert back.dtype == np.float32 and back.shape == shape
    np.testing.assert_array_equal(back, array)
    header = path.read_bytes()[:3]
    assert header == (b"PF\n" if len(shape) == 3 else b"Pf\n")


@pytest.mark.parametrize("endian,scale", [("<", b"-1.0"), (">", b"1.0")])
@pytest.mark.parametrize("header", [b"Pf\n3 2\n{scale}\n", b"Pf \n3 2 \n{scale} \n", b"Pf\r\n3 2\r\n{scale}\r\n",
                                    b"Pf\n3\n2\n{scale}\n", b"Pf   3   2   {scale}\n"])
def test_pfm_written_by_hand_bottom_up(tmp_path, endian, scale, header):
    # Rows stored bottom-up: the file's first row of data is the image's LAST row.
    top, bottom = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
    data = struct.pack(f"{endian}6f", *bottom, *top)
    path = tmp_path / "hand.pfm"
    path.write_bytes(header.replace(b"{scale}", scale) + data)
    image = io.read_pfm(path)
    np.testing.assert_array_equal(image, np.array([top, bottom], dtype=np.float32))


def test_pfm_middlebury_facts(real_dir):
    # README / PROVENANCE: ArtL little-endian, scale -0.003922, inf = no GT (170 px), range 19.25..55.5
    disp, valid = io.read_disparity_pfm(real_dir / "middlebury2014Q/ArtL/disp0GT.pfm")
    assert disp.shape == (277, 347)
    assert int((~valid).sum()) == 170
    assert disp[valid].min() == pytest.approx(19.25) and disp[valid].max() == pytest.approx(55.5)
    # Orientation: the mask's 0 ("no GT") pixels are exactly the inf pixels (a flipped read would not match).
    mask = cv2.imread(str(real_dir / "middlebury2014Q/ArtL/mask0nocc.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(mask == 0, ~valid)
    nocc = io.read_mask(real_dir / "middlebury2014Q/ArtL/mask0nocc.png")
    assert nocc.mean() == pytest.approx(0.7591, abs=1e-3)


def test_pfm_flyingthings_header_with_trailing_spaces(real_dir):
    path = real_dir / "flyingthings3d/A-0032-0006/disparity/left/A-0032-0006.pfm"
    assert path.read_bytes().startswith(b"Pf \n960 540 \n")
    disp, valid = io.read_disparity_pfm(path)
    assert disp.shape == (540, 960) and valid.all() and 0 < disp.min() < disp.max() < 400


def test_read_image_flyingthings_rgba_drops_alpha(real_dir):
    path = real_dir / "flyingthings3d/A-0032-0006/RGB_cleanpass/left/A-0032-0006.png"
    image = io.read_image(path)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.shape[2] == 4 and image.shape == (540, 960, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, raw[:, :, 2::-1])  # BGRA -> RGB


def test_read_image_bgr_to_rgb_gray_and_16bit(tmp_path):
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 200  # blue in cv2's order
    cv2.imwrite(str(tmp_path / "blue.png"), bgr)
    assert io.read_image(tmp_path / "blue.png")[0, 0].tolist() == [0, 0, 200]
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5)
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    image = io.read_image(tmp_path / "gray.png")
    assert image.shape == (4, 5, 3) and (image == gray[:, :, None]).all()
    deep = np.full((4, 5, 3), 65535, np.uint16)
    deep[0, 0] = 257 * 10
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    image = io.read_image(tmp_path / "deep.png")
    assert image.dtype == np.uint8 and image[1, 1, 0] == 255 and image[0, 0, 0] == 10
    cv2.imwrite(str(tmp_path / "photo.jpg"), bgr)
    assert io.read_image(tmp_path / "photo.jpg")[0, 0, 2] > 150  # JPEG, blue stays in channel 2


def test_kitti_uint16_over_256(real_dir):
    path = real_dir / "kitti2015/000000_10/disp_occ_0/000000_10.png"
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    disp, valid = io.read_disparity_png(path, 256.0)
    assert raw.dtype == np.uint16 and disp.shape == (375, 1242)
    np.testing.assert_array_equal(valid, raw > 0)
    np.testing.assert_allclose(disp[valid], raw[valid] / 256.0)
    assert 0.15 < valid.mean() < 0.25  # sparse, ~20 % valid
    assert disp.max() == pytest.approx(16406 / 256)


def test_middlebury2003_8bit_over_4_through_divisor_option(real_dir):
    path = real_dir / "middlebury2003/cones/disp2.png"
    disp, valid = io.read_disparity_generic(path, png_divisor=4.0)
    assert disp.shape == (375, 450)
    assert valid.mean() == pytest.approx(0.9678, abs=2e-3)
    assert disp[valid].min() == pytest.approx(5.5) and disp.max() == pytest.approx(55.0)


def test_fsd_rgb_encoding_and_npy(tmp_path):
    value = np.array([[0, 1000], [65025 + 255 * 3 + 7, 12345]])
    rgb = np.stack([value // 65025, (value // 255) % 255, value % 255], axis=2).astype(np.uint8)
    io.write_png(tmp_path / "fsd.png", rgb)
    disp, valid = io.read_disparity_rgb_encoded(tmp_path / "fsd.png")
    np.testing.assert_allclose(disp, value / 1000.0, rtol=1e-6)
    assert valid.tolist() == [[False, True], [True, True]]
    np.save(tmp_path / "d.npy", np.array([[1.5, np.inf], [0.0, 2.0]]))
    disp, valid = io.read_disparity_npy(tmp_path / "d.npy")
    assert disp.dtype == np.float32 and valid.tolist() == [[True, False], [False, True]]


@pytest.mark.parametrize("dtype", [np.complex64, np.bool_])
def test_a_complex_or_bool_npy_disparity_is_refused(tmp_path, dtype):
    """A complex array was read as its real part, with ComplexWarning lines, and evaluate said PASS."""
    np.save(tmp_path / "c.npy", np.ones((4, 6), dtype))
    with pytest.raises(DataError, match=r"c\.npy: \.npy disparity must be a real"):
        io.read_disparity_npy(tmp_path / "c.npy")
