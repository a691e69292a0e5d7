"""Bare file names: what is refused, and that resolved paths never leave the media directory."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from camsvc.errors import InvalidParams, NotFound
from camsvc.storage import names

BAD = [
    "",
    ".",
    "..",
    "../etc/passwd",
    "..%2fetc",
    "a/b.jpg",
    "a\\b.jpg",
    "/etc/passwd",
    "C:\\boot.ini",
    "x\x00.jpg",
    ".hidden.jpg",
    ".camera0.abc.tmp.jpg",
    "a..b.jpg",
    "name with space.jpg",
    "caf\u00e9.jpg",
    "x" * 256,
]


@pytest.mark.parametrize("name", BAD)
def test_bad_names_are_invalid_params(name: str) -> None:
    with pytest.raises(InvalidParams) as err:
        names.validate_name(name)
    assert err.value.data["param"] == "filename"
    assert err.value.reason == "invalid_filename"


@pytest.mark.parametrize("name", [None, 3, ["a"]])
def test_non_strings_are_invalid(name: object) -> None:
    with pytest.raises(InvalidParams):
        names.validate_name(name)


@pytest.mark.parametrize("name", ["camera0_2026-11-27_09-00-00-123456.mp4", "my-shot_1.jpeg", "A.b-c_d.png"])
def test_good_names_pass(name: str) -> None:
    assert names.validate_name(name) == name


def test_resolve_inside_refuses_symlinks_dirs_and_missing(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"secret")
    (media / "link.jpg").symlink_to(outside)
    (media / "inner.jpg").write_bytes(b"ok")
    (media / "link2.jpg").symlink_to(media / "inner.jpg")  # even a link pointing inside
    (media / "sub.jpg").mkdir()
    assert names.resolve_inside(media, "inner.jpg") == (media / "inner.jpg").resolve()
    for name in ("link.jpg", "link2.jpg", "sub.jpg", "missing.jpg"):
        with pytest.raises(NotFound):
            names.resolve_inside(media, name)


def test_resolve_inside_works_when_the_media_dir_itself_is_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "disk"
    real.mkdir()
    (real / "a.jpg").write_bytes(b"x")
    (tmp_path / "media").symlink_to(real)
    assert names.resolve_inside(tmp_path / "media", "a.jpg") == (real / "a.jpg").resolve()


def test_device_and_time_from_generated_names() -> None:
    ts = time.mktime((2026, 11, 27, 9, 0, 0, 0, 0, -1)) + 0.123456
    assert names.device_of("camera0_2026-11-27_09-00-00-123456.mp4") == "camera0"
    assert names.device_of("front_door_2026-11-27_09-00-00-123456.ts") == "front_door"
    assert names.device_of("camera1_2026-11-27_09-00-00.jpg") == "camera1"
    assert names.device_of("camera1_2026-11-27_09-00-00_3.png") == "camera1"
    assert names.device_of("holiday.jpg") is None
    start = names.segment_start("camera0_2026-11-27_09-00-00-123456.mp4")
    assert start is not None and abs(start - ts) < 1e-3
    assert names.stamp(ts) == "2026-11-27_09-00-00"


def test_content_types() -> None:
    assert names.content_type("a.mp4") == "video/mp4"
    assert names.content_type("a.ts") == "video/mp2t"
    assert names.content_type("a.JPG") == "image/jpeg"
    assert names.content_type("a.png") == "image/png"
    assert os.path.splitext("a.png")[1] == ".png"
