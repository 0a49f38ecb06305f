"""Making QR images (segno) and reading codes from photos (Pillow + zxing-cpp). Blocking: callers
run these in worker threads (see the qr service module)."""

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

import segno
import zxingcpp
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from app.services.qr.errors import ImageTooLarge, NotAnImage, TextTooLong

# The quiet zone the QR standard asks for; phones find the code much more reliably with it.
QUIET_ZONE_MODULES = 4
# Pillow formats a photo or screenshot of a code may come in (anything else is 415).
READABLE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
# Above this many pixels, a JPEG is decoded at half size (libjpeg's DCT scaling: far cheaper, and a
# code that fills a sensible part of a 12-megapixel photo keeps plenty of pixels per module).
JPEG_DRAFT_PIXELS = 8_000_000


class ImageKind(StrEnum):
    png = "png"
    svg = "svg"


MEDIA_TYPES = {ImageKind.png: "image/png", ImageKind.svg: "image/svg+xml"}


def render(text: str, kind: ImageKind, scale: int, *, error: str = "q") -> bytes:
    """The QR image of `text`. Error correction at least `error` (segno raises it for free when the
    version allows: Q or H survive a phone photo of a screen)."""
    try:
        code = segno.make_qr(text, error=error)
    except segno.DataOverflowError as exc:
        raise TextTooLong() from exc
    out = io.BytesIO()
    if kind is ImageKind.png:
        code.save(out, kind="png", scale=scale, border=QUIET_ZONE_MODULES)
    else:
        code.save(out, kind="svg", scale=scale, border=QUIET_ZONE_MODULES, xmldecl=False, svgclass=None, lineclass=None)
    return out.getvalue()


class ImageCache:
    """A small thread-safe LRU of rendered images. An appointment's code never changes, so its
    images are made once (segno holds the GIL for several milliseconds an image)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[tuple[str, ImageKind, int], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple[str, ImageKind, int]) -> bytes | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: tuple[str, ImageKind, int], image: bytes) -> None:
        with self._lock:
            self._items[key] = image
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0


@dataclass(frozen=True, slots=True)
class FoundCode:
    text: str
    format: str


def open_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Open (header only) and check the pixel count before anything is decoded."""
    try:
        image = Image.open(io.BytesIO(data), formats=READABLE_FORMATS)
    except Image.DecompressionBombError as exc:  # Pillow's own, far higher, limit
        raise ImageTooLarge() from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise NotAnImage() from exc
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(f"The image has {width} x {height} pixels; at most {max_pixels} are accepted.")
    return image


def _grayscale(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # A transparent background is white on a screen, not black.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("L")


def decode(data: bytes, *, max_pixels: int, qr_only: bool) -> list[FoundCode]:
    """Every code zxing-cpp finds (QR only, or every format it reads), in reading order, without
    duplicates. Honours EXIF orientation; a blurred photo gets a second, sharpened pass."""
    image = open_image(data, max_pixels=max_pixels)
    try:
        if image.format == "JPEG" and image.width * image.height > JPEG_DRAFT_PIXELS:
            image.draft("L", (image.width // 2, image.height // 2))
        gray = _grayscale(ImageOps.exif_transpose(image))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise NotAnImage("The image could not be read.") from exc
    formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode if qr_only else zxingcpp.BarcodeFormat.All)
    results = zxingcpp.read_barcodes(gray, formats=formats)
    if not results:
        sharpened = gray.filter(ImageFilter.UnsharpMask(radius=2, percent=200, threshold=0))
        results = zxingcpp.read_barcodes(sharpened, formats=formats)
    found: list[FoundCode] = []
    for result in results:
        code = FoundCode(text=result.text, format=result.format.name)
        if code not in found:
            found.append(code)
    return found
