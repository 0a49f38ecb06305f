"""segno → zxing-cpp round trips on pictures like the ones phones take, and hostile images."""

import io
import time
import tracemalloc
import uuid
from collections.abc import Callable

import pytest
import zxingcpp
from PIL import Image

from app.services.qr import images
from app.services.qr.errors import ImageTooLarge, NotAnImage
from app.services.qr.images import ImageKind
from app.services.qr.tokens import Keyring
from tests.documents.files import zip_bytes
from tests.qr import photos

LIMIT = 40_000_000
TOKEN = Keyring.build(secret="k" * 48, kid="1", retired={}).sign(uuid.uuid4())


@pytest.fixture(scope="module")
def code_png() -> Image.Image:
    return Image.open(io.BytesIO(images.render(TOKEN, ImageKind.png, 8)))


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


PHOTOS: dict[str, Callable[[Image.Image], bytes]] = {
    "as-generated": png,
    "rotated-30": lambda i: png(photos.rotated(i, 30)),
    "rotated-90-and-scaled-down": lambda i: png(photos.scaled(photos.rotated(i, 90), 0.5)),
    "small-in-large-noisy-jpeg60": lambda i: photos.jpeg(photos.in_noisy_picture(photos.scaled(i, 0.6))),
    "rotated-small-tilted-blurred-jpeg60": lambda i: photos.jpeg(
        photos.blurred(photos.tilted(photos.in_noisy_picture(photos.scaled(photos.rotated(i, 17), 0.5))), 1.0)
    ),
    "blurred-jpeg60": lambda i: photos.jpeg(photos.blurred(photos.in_noisy_picture(i), 1.6)),
    "exif-rotated": lambda i: photos.jpeg(
        photos.in_noisy_picture(photos.scaled(i, 0.7)).rotate(90, expand=True), exif_orientation=6
    ),
}


@pytest.mark.parametrize("make_photo", PHOTOS.values(), ids=PHOTOS.keys())
def test_photo_of_generated_code_decodes_to_the_token(
    code_png: Image.Image, make_photo: Callable[[Image.Image], bytes]
) -> None:
    found = images.decode(make_photo(code_png), max_pixels=LIMIT, qr_only=True)
    assert [code.text for code in found] == [TOKEN]
    assert found[0].format == "QRCode"


def test_svg_is_a_scalable_code_with_quiet_zone() -> None:
    svg = images.render(TOKEN, ImageKind.svg, 4).decode()
    assert svg.startswith("<svg")
    # Version 4 (33 modules) plus a 4-module quiet zone each side, at 4 px a module.
    assert 'width="164"' in svg


def test_picture_without_code_finds_nothing() -> None:
    picture = photos.jpeg(photos.in_noisy_picture(Image.new("RGB", (100, 100), "white")))
    assert images.decode(picture, max_pixels=LIMIT, qr_only=False) == []


def test_all_formats_are_reported_with_their_names(code_png: Image.Image) -> None:
    barcode = zxingcpp.write_barcode_to_image(
        zxingcpp.create_barcode("5901234123457", zxingcpp.BarcodeFormat.EAN13), scale=3
    )
    ean = Image.frombuffer("L", (barcode.shape[1], barcode.shape[0]), bytes(barcode), "raw", "L", 0, 1)
    sheet = Image.new("L", (1000, 500), 255)
    sheet.paste(code_png.convert("L"), (20, 20))
    sheet.paste(ean, (500, 100))
    found = images.decode(png(sheet), max_pixels=LIMIT, qr_only=False)
    assert {(code.text, code.format) for code in found} == {(TOKEN, "QRCode"), ("5901234123457", "EAN13")}
    assert [code.text for code in images.decode(png(sheet), max_pixels=LIMIT, qr_only=True)] == [TOKEN]


def test_huge_png_header_is_refused_without_allocating_it() -> None:
    bomb = photos.png_header_only(20_000, 20_000)
    assert len(bomb) < 2000
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge):
        images.decode(bomb, max_pixels=LIMIT, qr_only=True)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5_000_000  # 400 megapixels would be 400 MB in grey alone
    assert elapsed < 0.5


def test_our_pixel_limit_is_checked_before_decoding() -> None:
    image = photos.png_header_only(3000, 3000)
    with pytest.raises(ImageTooLarge):
        images.decode(image, max_pixels=1_000_000, qr_only=True)


@pytest.mark.parametrize("data", [zip_bytes(), b"%PDF-1.4 not an image", b""], ids=["zip", "pdf", "empty"])
def test_non_images_are_refused(data: bytes) -> None:
    with pytest.raises(NotAnImage):
        images.decode(data, max_pixels=LIMIT, qr_only=True)


def test_text_too_long_for_a_qr_code_is_refused() -> None:
    with pytest.raises(images.TextTooLong):
        images.render("é" * 3000, ImageKind.png, 1)
