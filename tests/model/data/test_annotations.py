"""Annotation files: columns, comments, relative paths."""

from __future__ import annotations

import os

from model.data.annotations import read_annotation_file


def test_relative_absolute_comments_and_blank_lines(tmp_path):
    sub = tmp_path / "lists"
    sub.mkdir()
    absolute = str(tmp_path / "x" / "abs.png")
    (sub / "a.txt").write_text(f"# header comment\n\n  l.png r.png  \n   # indented comment\n"
                               f"../img/l.png ../img/r.png d.pfm m.png\n{absolute} r.png d.pfm\n")
    rows = read_annotation_file(sub / "a.txt")
    assert rows == [
        [str(sub / "l.png"), str(sub / "r.png")],
        [str(tmp_path / "img/l.png"), str(tmp_path / "img/r.png"), str(sub / "d.pfm"), str(sub / "m.png")],
        [absolute, str(sub / "r.png"), str(sub / "d.pfm")],
    ]
    assert all(os.path.isabs(p) for row in rows for p in row)


def test_real_annotation_files(real_dir):
    rows = read_annotation_file(real_dir / "middlebury2014Q.txt")
    assert len(rows) == 4 and all(len(r) == 4 for r in rows)
    # relative paths resolve against the file's real folder (../shared may be a symlink)
    assert rows[1][0] == str(real_dir.resolve() / "middlebury2014Q/ArtL/im0.png")
    assert [len(r) for r in read_annotation_file(real_dir / "infer_pairs.txt")] == [2, 2]


def test_utf8_bom_and_crlf_from_windows_editors(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"\xef\xbb\xbfl.png r.png d.png\r\nl2.png r2.png\r\n")
    assert read_annotation_file(tmp_path / "a.txt") == [
        [str(tmp_path / "l.png"), str(tmp_path / "r.png"), str(tmp_path / "d.png")],
        [str(tmp_path / "l2.png"), str(tmp_path / "r2.png")],
    ]
