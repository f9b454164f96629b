"""Uploads are checked by content and re-encoded: nothing but the picture survives."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from parlour.errors import InvalidInput, NotFound
from parlour.services.gallery import MAX_BYTES, GalleryService, encode_photo
from parlour.storage import KVStore
from parlour.storage.memory import MemoryBackend


def picture(fmt: str = "JPEG", size: tuple[int, int] = (800, 600), **save: object) -> bytes:
    image = Image.new("RGBA" if fmt == "PNG" else "RGB", size, (200, 120, 150))
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def with_gps_and_rotation() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to show it upright
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[2] = (51.0, 30.0, 0.0)  # latitude: where the photo was taken
    return picture("JPEG", (800, 600), exif=exif)


@pytest.fixture
def gallery() -> GalleryService:
    return GalleryService(KVStore(MemoryBackend(), "gallery"))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
async def test_a_photo_is_re_encoded_as_webp(gallery: GalleryService, fmt: str) -> None:
    photo = await gallery.upload(picture(fmt), " The  room ")
    assert photo.caption == "The room"
    full, thumb = await gallery.image(photo.id, "full"), await gallery.image(photo.id, "thumb")
    for data, side in ((full, 800), (thumb, 480)):
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "WEBP"
            assert max(image.size) == side
    assert [p.id for p in await gallery.photos()] == [photo.id]


def test_location_and_camera_details_are_dropped_and_the_photo_turned_upright() -> None:
    encoded = encode_photo(with_gps_and_rotation())
    assert (encoded.width, encoded.height) == (600, 800)
    with Image.open(io.BytesIO(encoded.full)) as image:
        assert not image.getexif()
        assert "exif" not in image.info
        assert "xmp" not in image.info
    assert b"PhoneMaker" not in encoded.full


def test_what_a_polyglot_hides_after_the_image_is_left_behind() -> None:
    payload = b"<script>alert(1)</script>PK\x03\x04hidden.zip"
    encoded = encode_photo(picture("PNG") + payload)
    assert payload not in encoded.full
    assert b"<script>" not in encoded.thumb


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "Choose a photo"),
        (b"GIF89a" + b"\x00" * 100, "not a photo Parlour can read"),
        (b"%PDF-1.4 not an image", "not a photo Parlour can read"),
        (picture("JPEG")[:400], "not a photo Parlour can read"),
        (picture("GIF"), "JPEG, PNG or WebP"),
        (picture("PNG", (8000, 6000), compress_level=9), "too many pixels"),
        (b"\xff\xd8" + b"\x00" * (MAX_BYTES + 1), "up to 8 MB"),
    ],
    ids=["empty", "fake-gif", "pdf", "truncated", "gif", "bomb", "too-large"],
)
async def test_files_that_are_not_acceptable_photos_are_refused(
    gallery: GalleryService, data: bytes, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        await gallery.upload(data, "caption")
    assert set(caught.value.fields) == {"photo"}
    assert await gallery.photos() == []


async def test_captions_order_and_deletion(gallery: GalleryService) -> None:
    first = await gallery.upload(picture(), "first")
    second = await gallery.upload(picture(), "second")
    await gallery.move(second.id, -1)
    assert [p.caption for p in await gallery.photos()] == ["second", "first"]
    await gallery.caption(first.id, "renamed")
    with pytest.raises(InvalidInput):
        await gallery.caption(first.id, "x" * 201)
    await gallery.delete(second.id)
    assert [p.caption for p in await gallery.photos()] == ["renamed"]
    with pytest.raises(NotFound):
        await gallery.image(second.id, "full")
