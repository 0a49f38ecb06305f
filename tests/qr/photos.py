"""Turn a real generated QR PNG into the kind of picture a phone takes of it."""

import io
import random
import struct
import zlib

from PIL import Image, ImageFilter


def rotated(image: Image.Image, degrees: float) -> Image.Image:
    return image.convert("RGB").rotate(degrees, expand=True, fillcolor="white", resample=Image.Resampling.BICUBIC)


def scaled(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, int(image.width * factor)), max(1, int(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)


def in_noisy_picture(image: Image.Image, size: tuple[int, int] = (1600, 1200), seed: int = 7) -> Image.Image:
    rng = random.Random(seed)
    background = Image.effect_noise(size, 48).convert("RGB")
    # A few large grey blocks, like furniture in the background.
    for _ in range(6):
        x, y = rng.randrange(size[0] - 200), rng.randrange(size[1] - 200)
        grey = rng.randrange(40, 200)
        background.paste((grey, grey, grey), (x, y, x + rng.randrange(60, 200), y + rng.randrange(60, 200)))
    background.paste(image.convert("RGB"), (size[0] - image.width - 137, size[1] - image.height - 91))
    return background


def tilted(image: Image.Image) -> Image.Image:
    """A perspective view: the phone was not held parallel to the screen."""
    coefficients = (1, 0.06, 0, 0.02, 1.04, 0, 0.00002, 0.00001)
    return image.transform(image.size, Image.Transform.PERSPECTIVE, coefficients, fillcolor=(128, 128, 128))


def blurred(image: Image.Image, radius: float = 1.0) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius))


def jpeg(image: Image.Image, quality: int = 60, *, exif_orientation: int | None = None) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    if exif_orientation is not None:
        exif[0x0112] = exif_orientation
    image.convert("RGB").save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and header declaring a huge image, with almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )
