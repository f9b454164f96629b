"""The photo gallery, kept in the storage layer so that every instance can serve every photo.

An upload is read by its content, never its name or declared type: Pillow must recognise a JPEG,
PNG or WebP, no larger than :data:`MAX_BYTES` and :data:`MAX_PIXELS` (a decompression bomb is
refused before it is decoded). It is decoded in full, turned upright by its EXIF orientation,
and re-encoded as WebP at two sizes; everything else in the file (EXIF with its GPS position,
XMP, comments, whatever a polyglot hid after the image) is left behind. The work runs on a
thread. Keys: ``p:<id>`` (what a page needs), ``f:<id>`` and ``s:<id>`` (the full image and
its thumbnail, base64), ``order`` (the ids in display order).
"""

from __future__ import annotations

import asyncio
import base64
import io
import secrets
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from parlour.domain.text import HIDDEN, hidden_characters
from parlour.errors import InvalidInput, NotFound
from parlour.services.cache import NamespaceCache, NoCache
from parlour.storage.base import ABSENT, DELETE, KVStore

MAX_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000
FULL_SIDE = 1600
THUMB_SIDE = 480
FORMATS = {"JPEG", "PNG", "WEBP"}
Size = Literal["full", "thumb"]


@dataclass(frozen=True, slots=True)
class Photo:
    id: str
    caption: str
    width: int
    height: int
    created_at: str


@dataclass(frozen=True, slots=True)
class Encoded:
    full: bytes
    thumb: bytes
    width: int
    height: int


def encode_photo(data: bytes) -> Encoded:
    """Check and re-encode an upload (blocking: call it on a thread)."""
    if not data:
        raise InvalidInput({"photo": "Choose a photo to upload."})
    if len(data) > MAX_BYTES:
        raise InvalidInput({"photo": f"Photos can be up to {MAX_BYTES // (1024 * 1024)} MB."})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in FORMATS:
                    raise InvalidInput({"photo": "Upload a JPEG, PNG or WebP photo."})
                if probe.width * probe.height > MAX_PIXELS:
                    raise InvalidInput(
                        {"photo": "That photo has too many pixels; make it smaller."}
                    )
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()  # decode it all: a truncated or corrupt file fails here
                upright = ImageOps.exif_transpose(image) or image
                mode = "RGBA" if "A" in upright.getbands() else "RGB"
                clean = upright.convert(mode)
    except InvalidInput:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise InvalidInput({"photo": "That file is not a photo Parlour can read."}) from exc
    return Encoded(_webp(clean, FULL_SIDE), _webp(clean, THUMB_SIDE), clean.width, clean.height)


def _webp(image: Image.Image, side: int) -> bytes:
    copy = image.copy()
    copy.thumbnail((side, side))
    out = io.BytesIO()
    copy.save(out, "WEBP", quality=82, method=4)  # no exif=, no xmp=: nothing carried over
    return out.getvalue()


class GalleryService:
    def __init__(
        self,
        store: KVStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache: NamespaceCache | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._cache = cache or NoCache()

    async def photos(self) -> list[Photo]:
        async def load() -> list[Photo]:
            order = await self._store.get_item("order") or []
            found = await self._store.get_many([f"p:{photo_id}" for photo_id in order])
            return [Photo(**found[f"p:{i}"]) for i in order if f"p:{i}" in found]

        return await self._cache.get(self._store.namespace, "index", load)

    async def upload(self, data: bytes, caption: str) -> Photo:
        caption = _caption(caption)
        encoded = await asyncio.to_thread(encode_photo, data)
        photo = Photo(
            id=secrets.token_hex(8),
            caption=caption,
            width=encoded.width,
            height=encoded.height,
            created_at=self._clock().isoformat(),
        )

        def add(order: list[str] | None) -> list[str]:
            return [*(order or []), photo.id]

        await self._store.transact(
            {
                f"f:{photo.id}": base64.b64encode(encoded.full).decode(),
                f"s:{photo.id}": base64.b64encode(encoded.thumb).decode(),
                f"p:{photo.id}": asdict(photo),
            },
            expect={f"p:{photo.id}": ABSENT},
        )
        await self._store.update("order", add)  # shown once its files are in place
        self._cache.forget(self._store.namespace)
        return photo

    async def image(self, photo_id: str, size: Size) -> bytes:
        data = await self._store.get_item(f"{'f' if size == 'full' else 's'}:{photo_id[:32]}")
        if data is None:
            raise NotFound("There is no such photo.")
        return base64.b64decode(data)

    async def caption(self, photo_id: str, caption: str) -> Photo:
        text = _caption(caption)

        def change(data: dict[str, Any] | None) -> dict[str, Any]:
            if data is None:
                raise NotFound("There is no such photo.")
            return {**data, "caption": text}

        photo = Photo(**await self._store.update(f"p:{photo_id[:32]}", change))
        self._cache.forget(self._store.namespace)
        return photo

    async def move(self, photo_id: str, steps: int) -> None:
        """Earlier (negative) or later in the gallery."""

        def change(order: list[str] | None) -> list[str]:
            ids = list(order or [])
            if photo_id not in ids:
                raise NotFound("There is no such photo.")
            at = ids.index(photo_id)
            ids.insert(max(0, min(len(ids) - 1, at + steps)), ids.pop(at))
            return ids

        await self._store.update("order", change)
        self._cache.forget(self._store.namespace)

    async def delete(self, photo_id: str) -> None:
        await self._store.update("order", lambda order: [i for i in order or [] if i != photo_id])
        await self._store.transact(
            {f"p:{photo_id}": DELETE, f"f:{photo_id}": DELETE, f"s:{photo_id}": DELETE}
        )
        self._cache.forget(self._store.namespace)


def _caption(text: str) -> str:
    caption = " ".join(text.split())
    if len(caption) > 200:
        raise InvalidInput({"caption": "Keep the caption under 200 characters."})
    if hidden_characters(caption):
        raise InvalidInput({"caption": HIDDEN})
    return caption
