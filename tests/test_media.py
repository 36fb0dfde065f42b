"""Media uploads: re-encoding, limits, storage without leftovers, serving, and attaching."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageCms, PngImagePlugin
from starlette.applications import Starlette

from fediverse import ids
from fediverse import media as media_domain
from fediverse.config import Settings
from fediverse.errors import ValidationError
from fediverse.media import UploadLimits
from fediverse.storage.database import Database
from fediverse.storage.media import MediaAttachment
from tests.factories import StaffMember, make_staff

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def png_bytes(size: tuple[int, int] = (64, 48), *, alpha: bool = False) -> bytes:
    mode = "RGBA" if alpha else "RGB"
    image = Image.new(mode, size, (200, 30, 30, 128) if alpha else (30, 120, 200))
    image.putpixel((0, 0), (0, 0, 0, 0) if alpha else (0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(size: tuple[int, int] = (80, 40), *, exif: Image.Exif | None = None) -> bytes:
    image = Image.new("RGB", size, (10, 200, 90))
    # Left half dark: after rotation the dark half must be on top.
    image.paste((0, 0, 0), (0, 0, size[0] // 2, size[1]))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, exif=exif if exif is not None else Image.Exif())
    return buffer.getvalue()


def exif_with_gps_and_orientation(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "SpyCam Inc."  # Make
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 18.0)})
    return exif


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions but holds almost no data (a decompression bomb)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def stored_files(settings: Settings) -> list[Path]:
    root = settings.media_dir
    if not root.exists():
        return []
    return sorted(path for path in root.rglob("*") if path.is_file())


async def count_media_rows(database: Database) -> int:
    async with database.connection() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM media_attachments"))


async def upload(
    client: httpx.AsyncClient,
    staff: StaffMember,
    data: bytes,
    *,
    name: str = "picture.png",
    content_type: str = "image/png",
    version: str = "v2",
    fields: dict[str, str] | None = None,
    thumbnail: bytes | None = None,
) -> httpx.Response:
    files = {"file": (name, data, content_type)}
    if thumbnail is not None:
        files["thumbnail"] = ("thumb.png", thumbnail, "image/png")
    return await client.post(
        f"/api/{version}/media", headers=staff.headers, files=files, data=fields or {}
    )


async def fetch_served(client: httpx.AsyncClient, url: str) -> httpx.Response:
    assert url.startswith("https://local.test/media/")
    return await client.get(url)


@pytest.fixture
async def alice(database: Database, settings: Settings) -> StaffMember:
    return await make_staff(database, settings, "alice")


@pytest.fixture
async def bob(database: Database, settings: Settings) -> StaffMember:
    return await make_staff(database, settings, "bob")


# --- uploading -----------------------------------------------------------------------------


async def test_png_upload_answers_a_mastodon_media_attachment(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    response = await upload(client, alice, png_bytes((64, 48)), fields={"description": "A dot"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "id",
        "type",
        "url",
        "preview_url",
        "remote_url",
        "preview_remote_url",
        "text_url",
        "meta",
        "description",
        "blurhash",
    }
    assert body["id"].isdigit()
    assert body["type"] == "image"
    assert body["url"].endswith(".png")
    assert body["preview_url"].startswith("https://local.test/media/")
    assert body["preview_url"] != body["url"]
    assert body["remote_url"] is None
    assert body["preview_remote_url"] is None
    assert body["text_url"] is None
    assert body["description"] == "A dot"
    original = {"width": 64, "height": 48, "size": "64x48", "aspect": 64 / 48}
    assert body["meta"]["original"] == original
    assert body["meta"]["small"]["width"] == 64
    assert "focus" not in body["meta"]
    assert isinstance(body["blurhash"], str) and len(body["blurhash"]) >= 6


async def test_jpeg_upload_is_stored_as_jpeg(client: httpx.AsyncClient, alice: StaffMember) -> None:
    response = await upload(client, alice, jpeg_bytes(), name="x.jpg", content_type="image/jpeg")
    assert response.status_code == 200, response.text
    served = await fetch_served(client, response.json()["url"])
    assert served.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(served.content)).format == "JPEG"


async def test_png_with_transparency_stays_png_with_alpha(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    response = await upload(client, alice, png_bytes(alpha=True))
    assert response.status_code == 200, response.text
    served = await fetch_served(client, response.json()["url"])
    image = Image.open(io.BytesIO(served.content))
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    assert image.getchannel("A").getpixel((0, 0)) == 0


async def test_type_is_detected_from_content_not_from_name_or_content_type(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    response = await upload(client, alice, jpeg_bytes(), name="cat.png", content_type="text/html")
    assert response.status_code == 200, response.text
    assert response.json()["url"].endswith(".jpg")


async def test_v1_upload_works_too(client: httpx.AsyncClient, alice: StaffMember) -> None:
    response = await upload(client, alice, png_bytes(), version="v1")
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "image"


async def test_exif_metadata_including_gps_is_stripped(
    client: httpx.AsyncClient, alice: StaffMember, settings: Settings
) -> None:
    original = jpeg_bytes(exif=exif_with_gps_and_orientation())
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the test input has GPS
    response = await upload(client, alice, original, name="trip.jpg", content_type="image/jpeg")
    assert response.status_code == 200, response.text
    for path in stored_files(settings):
        data = path.read_bytes()
        image = Image.open(io.BytesIO(data))
        assert not image.getexif(), path
        assert "exif" not in image.info
        assert b"SpyCam" not in data
        assert b"Exif" not in data


async def test_exif_orientation_is_applied_before_stripping(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    # Stored 80x40 landscape; orientation 6 means "rotate 90° clockwise to display".
    original = jpeg_bytes((80, 40), exif=exif_with_gps_and_orientation(6))
    response = await upload(client, alice, original, name="p.jpg", content_type="image/jpeg")
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["original"]["width"] == 40
    assert response.json()["meta"]["original"]["height"] == 80
    served = Image.open(io.BytesIO((await fetch_served(client, response.json()["url"])).content))
    assert served.size == (40, 80)
    # The dark left half of the stored image is at the top once rotated clockwise.
    brightness = served.convert("L")
    assert brightness.getpixel((20, 5)) == pytest.approx(0, abs=20)
    assert brightness.getpixel((20, 75)) == pytest.approx(140, abs=30)


async def test_description_and_focus_are_saved(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    response = await upload(
        client, alice, png_bytes(), fields={"description": " Alt text ", "focus": "0.3,-0.5"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["description"] == "Alt text"
    assert response.json()["meta"]["focus"] == {"x": 0.3, "y": -0.5}


@pytest.mark.parametrize("focus", ["2,0", "0.5", "a,b", "0,-1.5"])
async def test_invalid_focus_is_rejected(
    client: httpx.AsyncClient,
    alice: StaffMember,
    database: Database,
    settings: Settings,
    focus: str,
) -> None:
    response = await upload(client, alice, png_bytes(), fields={"focus": focus})
    assert response.status_code == 422
    assert "focus" in response.json()["error"]
    assert await count_media_rows(database) == 0
    assert stored_files(settings) == []


async def test_too_long_description_is_rejected(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    response = await upload(client, alice, png_bytes(), fields={"description": "x" * 1501})
    assert response.status_code == 422
    assert "description" in response.json()["error"]


async def test_custom_thumbnail_becomes_the_preview(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    response = await upload(client, alice, png_bytes((64, 48)), thumbnail=png_bytes((20, 10)))
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["small"]["size"] == "20x10"
    preview = await fetch_served(client, response.json()["preview_url"])
    assert Image.open(io.BytesIO(preview.content)).size == (20, 10)


async def test_large_images_are_downscaled_with_a_small_preview(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4000, 3000), (120, 120, 120)).save(buffer, "JPEG")
    response = await upload(client, alice, buffer.getvalue(), name="big.jpg")
    assert response.status_code == 200, response.text
    meta = response.json()["meta"]
    assert meta["original"]["width"] * meta["original"]["height"] <= 3840 * 2160
    assert abs(meta["original"]["aspect"] - 4 / 3) < 0.01
    assert meta["small"]["width"] * meta["small"]["height"] <= 640 * 360
    served = await fetch_served(client, response.json()["url"])
    assert Image.open(io.BytesIO(served.content)).size == (
        meta["original"]["width"],
        meta["original"]["height"],
    )


# --- refusing ------------------------------------------------------------------------------


async def test_non_image_named_png_is_rejected_and_nothing_is_stored(
    client: httpx.AsyncClient, alice: StaffMember, database: Database, settings: Settings
) -> None:
    response = await upload(client, alice, b"just some text, honestly\n" * 10, name="fake.png")
    assert response.status_code == 422
    assert "not a supported image" in response.json()["error"]
    assert await count_media_rows(database) == 0
    assert stored_files(settings) == []


async def test_truncated_image_is_rejected(
    client: httpx.AsyncClient, alice: StaffMember, database: Database, settings: Settings
) -> None:
    data = jpeg_bytes((400, 300))
    response = await upload(client, alice, data[: len(data) // 3], name="cut.jpg")
    assert response.status_code == 422
    assert await count_media_rows(database) == 0
    assert stored_files(settings) == []


async def test_missing_file_is_rejected(client: httpx.AsyncClient, alice: StaffMember) -> None:
    response = await client.post(
        "/api/v2/media", headers=alice.headers, data={"description": "nothing"}
    )
    assert response.status_code == 422
    assert "file" in response.json()["error"]


async def test_oversized_upload_is_rejected(
    app: Starlette,
    client: httpx.AsyncClient,
    alice: StaffMember,
    database: Database,
    settings: Settings,
) -> None:
    limited = settings.with_overrides(max_upload_bytes=2000)
    app.state.fediverse.settings = limited
    data = png_bytes((300, 300))
    data = data + b"\x00" * max(0, 2500 - len(data))
    response = await upload(client, alice, data)
    assert response.status_code == 422
    assert "too large" in response.json()["error"]
    assert await count_media_rows(database) == 0
    assert stored_files(limited) == []


async def test_upload_far_over_the_limit_is_refused_before_parsing(
    app: Starlette, client: httpx.AsyncClient, alice: StaffMember
) -> None:
    app.state.fediverse.settings = app.state.fediverse.settings.with_overrides(max_upload_bytes=10)
    response = await upload(client, alice, b"\x00" * (3 * 1024 * 1024))
    assert response.status_code == 422
    assert "too large" in response.json()["error"]


async def test_image_with_too_many_pixels_is_rejected(
    client: httpx.AsyncClient, alice: StaffMember, database: Database, settings: Settings
) -> None:
    # 6000x6000 = 36M pixels, over the 33,177,600 limit, yet a tiny file.
    buffer = io.BytesIO()
    Image.new("1", (6000, 6000)).save(buffer, "PNG")
    response = await upload(client, alice, buffer.getvalue())
    assert response.status_code == 422
    assert "too many pixels" in response.json()["error"]
    assert await count_media_rows(database) == 0
    assert stored_files(settings) == []


@pytest.mark.parametrize("size", [(10_000, 10_000), (100_000, 100_000)])
async def test_decompression_bomb_headers_are_rejected(
    client: httpx.AsyncClient,
    alice: StaffMember,
    database: Database,
    settings: Settings,
    size: tuple[int, int],
) -> None:
    response = await upload(client, alice, png_header_only(*size))
    assert response.status_code == 422
    assert "too many pixels" in response.json()["error"]
    assert await count_media_rows(database) == 0
    assert stored_files(settings) == []


async def test_failed_commit_leaves_no_file_behind(
    settings: Settings, database: Database, alice: StaffMember
) -> None:
    processed = media_domain.process_attachment(
        png_bytes(), limits=UploadLimits.from_settings(settings)
    )
    with pytest.raises(RuntimeError):
        async with (
            media_domain.files_kept_on_success(settings.media_dir, processed.files),
            database.transaction() as conn,
        ):
            await media_domain.create_attachment(
                conn, account_id=alice.account.id, processed=processed, description=None, focus=None
            )
            assert len(stored_files(settings)) == 2
            raise RuntimeError("the transaction fails after the row was written")
    assert stored_files(settings) == []
    assert await count_media_rows(database) == 0


async def test_upload_needs_the_write_media_scope(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader = await make_staff(database, settings, "reader", scopes="read write:statuses")
    response = await upload(client, reader, png_bytes())
    assert response.status_code == 403
    media_writer = await make_staff(database, settings, "writer", scopes="write:media")
    assert (await upload(client, media_writer, png_bytes())).status_code == 200


async def test_upload_without_a_token_is_unauthorized(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v2/media", files={"file": ("a.png", png_bytes(), "image/png")}
    )
    assert response.status_code == 401


# --- reading and updating ------------------------------------------------------------------


async def test_owner_can_get_their_upload(client: httpx.AsyncClient, alice: StaffMember) -> None:
    created = (await upload(client, alice, png_bytes())).json()
    response = await client.get(f"/api/v1/media/{created['id']}", headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == created


async def test_another_user_gets_404_for_get_put_and_delete(
    client: httpx.AsyncClient, alice: StaffMember, bob: StaffMember
) -> None:
    created = (await upload(client, alice, png_bytes())).json()
    url = f"/api/v1/media/{created['id']}"
    assert (await client.get(url, headers=bob.headers)).status_code == 404
    put = await client.put(url, headers=bob.headers, data={"description": "mine now"})
    assert put.status_code == 404
    assert (await client.delete(url, headers=bob.headers)).status_code == 404
    unchanged = await client.get(url, headers=alice.headers)
    assert unchanged.json()["description"] is None


async def test_unknown_and_malformed_media_ids_are_404(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    assert (await client.get("/api/v1/media/12345", headers=alice.headers)).status_code == 404
    assert (await client.get("/api/v1/media/abc", headers=alice.headers)).status_code == 404


async def test_owner_can_update_description_and_focus(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    created = (await upload(client, alice, png_bytes(), fields={"description": "old"})).json()
    url = f"/api/v1/media/{created['id']}"
    response = await client.put(
        url, headers=alice.headers, json={"description": "new", "focus": "-0.25,0.75"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["description"] == "new"
    assert response.json()["meta"]["focus"] == {"x": -0.25, "y": 0.75}
    assert response.json()["url"] == created["url"]
    fetched = (await client.get(url, headers=alice.headers)).json()
    assert fetched["description"] == "new"
    # Only the focus: the description stays; an empty description clears it.
    focus_only = await client.put(url, headers=alice.headers, data={"focus": "0,0"})
    assert focus_only.json()["description"] == "new"
    cleared = await client.put(url, headers=alice.headers, data={"description": ""})
    assert cleared.json()["description"] is None
    assert cleared.json()["meta"]["focus"] == {"x": 0.0, "y": 0.0}


async def test_put_with_a_new_thumbnail_replaces_the_preview_file(
    client: httpx.AsyncClient, alice: StaffMember, settings: Settings
) -> None:
    created = (await upload(client, alice, png_bytes((64, 48)))).json()
    response = await client.put(
        f"/api/v1/media/{created['id']}",
        headers=alice.headers,
        files={"thumbnail": ("t.png", png_bytes((30, 30)), "image/png")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["preview_url"] != created["preview_url"]
    assert response.json()["meta"]["small"]["size"] == "30x30"
    assert (await client.get(created["preview_url"])).status_code == 404
    assert (await client.get(response.json()["preview_url"])).status_code == 200
    assert len(stored_files(settings)) == 2


async def test_put_on_attached_media_is_404(
    client: httpx.AsyncClient, alice: StaffMember, database: Database
) -> None:
    created = (await upload(client, alice, png_bytes())).json()
    status_id = await insert_status(database, alice)
    async with database.transaction() as conn:
        await media_domain.attach_media(
            conn, account_id=alice.account.id, media_ids=[int(created["id"])], status_id=status_id
        )
    url = f"/api/v1/media/{created['id']}"
    response = await client.put(url, headers=alice.headers, data={"description": "late"})
    assert response.status_code == 404
    assert (await client.get(url, headers=alice.headers)).status_code == 200


async def test_owner_can_delete_an_unattached_upload_and_its_files(
    client: httpx.AsyncClient, alice: StaffMember, database: Database, settings: Settings
) -> None:
    created = (await upload(client, alice, png_bytes())).json()
    response = await client.delete(f"/api/v1/media/{created['id']}", headers=alice.headers)
    assert response.status_code == 200
    assert await count_media_rows(database) == 0
    assert stored_files(settings) == []
    assert (await client.get(created["url"])).status_code == 404


# --- serving -------------------------------------------------------------------------------


async def test_served_file_has_the_right_headers_and_matches_the_stored_bytes(
    client: httpx.AsyncClient, alice: StaffMember, settings: Settings
) -> None:
    created = (await upload(client, alice, png_bytes())).json()
    served = await fetch_served(client, created["url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "max-age" in served.headers["cache-control"]
    name = created["url"].removeprefix("https://local.test/media/")
    assert served.content == (settings.media_dir / name).read_bytes()
    preview = await fetch_served(client, created["preview_url"])
    assert preview.status_code == 200
    assert preview.headers["content-type"] in ("image/jpeg", "image/png")


async def test_stored_names_are_unguessable_and_differ_per_upload(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    first = (await upload(client, alice, png_bytes())).json()["url"]
    second = (await upload(client, alice, png_bytes())).json()["url"]
    assert first != second
    token = first.rsplit("/", 1)[-1].split(".")[0]
    assert len(token) >= 32


async def test_unknown_media_file_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/media/ab/abcdefghijklmnopqrstuvwxyz012345.png")
    assert response.status_code == 404
    assert response.json() == {"error": "Record not found"}


@pytest.mark.parametrize(
    "path",
    [
        "/media/..%2Fsecret_key",
        "/media/..%2F..%2Fsecret_key",
        "/media/%2E%2E/%2E%2E/secret_key",
        "/media/ab/..%2F..%2Fsecret_key",
        "/media/%2Fetc%2Fpasswd",
        "/media/ab%2F..%2F..%2Fsecret_key.png",
    ],
)
async def test_path_traversal_is_impossible(
    client: httpx.AsyncClient, settings: Settings, path: str
) -> None:
    # The secret key lives in data_dir, right next to media_dir.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "secret_key").write_text("do-not-serve")
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    response = await client.get(path)
    assert response.status_code == 404
    assert b"do-not-serve" not in response.content


def test_media_path_accepts_only_names_the_module_makes(settings: Settings) -> None:
    root = settings.media_dir
    good = "Ab/Ab" + "c" * 30 + ".jpg"
    assert media_domain.media_path(root, good) == (root / good).resolve()
    for bad in ["../secret_key", "ab/../../x.jpg", "/etc/passwd", "ab/" + "c" * 32 + ".html"]:
        assert media_domain.media_path(root, bad) is None


# --- attaching to statuses -----------------------------------------------------------------


async def insert_status(database: Database, staff: StaffMember) -> int:
    """A bare status row, enough for media to point at (statuses are another module's)."""
    status_id = ids.new_id()
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO statuses (id, account_id, uri, text, content, visibility) "
            "VALUES ($1, $2, $3, '', '', 'public')",
            status_id,
            staff.account.id,
            f"https://local.test/users/{staff.account.username}/statuses/{status_id}",
        )
    return status_id


async def upload_ids(client: httpx.AsyncClient, staff: StaffMember, count: int) -> list[int]:
    result = []
    for _ in range(count):
        response = await upload(client, staff, png_bytes())
        assert response.status_code == 200, response.text
        result.append(int(response.json()["id"]))
    return result


async def test_attach_media_sets_status_and_order(
    client: httpx.AsyncClient, alice: StaffMember, database: Database
) -> None:
    media_ids = await upload_ids(client, alice, 3)
    status_id = await insert_status(database, alice)
    wanted = [media_ids[2], media_ids[0], media_ids[1]]
    async with database.transaction() as conn:
        attached = await media_domain.attach_media(
            conn, account_id=alice.account.id, media_ids=wanted, status_id=status_id
        )
    assert [media.id for media in attached] == wanted
    assert all(media.status_id == status_id for media in attached)
    async with database.connection() as conn:
        grouped = await media_domain.list_media_for_statuses(conn, status_ids=[status_id, 1])
    assert list(grouped) == [status_id]
    assert [media.id for media in grouped[status_id]] == wanted


async def test_attach_media_refuses_another_accounts_upload(
    client: httpx.AsyncClient, alice: StaffMember, bob: StaffMember, database: Database
) -> None:
    [bobs] = await upload_ids(client, bob, 1)
    [alices] = await upload_ids(client, alice, 1)
    status_id = await insert_status(database, alice)
    with pytest.raises(ValidationError) as error:
        async with database.transaction() as conn:
            await media_domain.attach_media(
                conn, account_id=alice.account.id, media_ids=[alices, bobs], status_id=status_id
            )
    assert str(bobs) in error.value.message
    async with database.connection() as conn:
        assert await media_domain.list_media_for_statuses(conn, status_ids=[status_id]) == {}


async def test_attach_media_allows_at_most_four(
    client: httpx.AsyncClient, alice: StaffMember, database: Database
) -> None:
    media_ids = await upload_ids(client, alice, 5)
    status_id = await insert_status(database, alice)
    with pytest.raises(ValidationError) as error:
        async with database.transaction() as conn:
            await media_domain.attach_media(
                conn, account_id=alice.account.id, media_ids=media_ids, status_id=status_id
            )
    assert "more than 4" in error.value.message
    async with database.transaction() as conn:
        four = await media_domain.attach_media(
            conn, account_id=alice.account.id, media_ids=media_ids[:4], status_id=status_id
        )
    assert len(four) == 4


async def test_attach_media_refuses_media_attached_to_another_status(
    client: httpx.AsyncClient, alice: StaffMember, database: Database
) -> None:
    [media_id] = await upload_ids(client, alice, 1)
    first = await insert_status(database, alice)
    second = await insert_status(database, alice)
    async with database.transaction() as conn:
        await media_domain.attach_media(
            conn, account_id=alice.account.id, media_ids=[media_id], status_id=first
        )
    with pytest.raises(ValidationError):
        async with database.transaction() as conn:
            await media_domain.attach_media(
                conn, account_id=alice.account.id, media_ids=[media_id], status_id=second
            )
    # Re-attaching to the same status (an edit that keeps it) is fine.
    async with database.transaction() as conn:
        again = await media_domain.attach_media(
            conn, account_id=alice.account.id, media_ids=[media_id], status_id=first
        )
    assert [media.status_id for media in again] == [first]


async def test_attached_media_renders_for_statuses_in_a_batch(
    client: httpx.AsyncClient, alice: StaffMember, database: Database
) -> None:
    one, two = await upload_ids(client, alice, 2)
    first = await insert_status(database, alice)
    second = await insert_status(database, alice)
    async with database.transaction() as conn:
        await media_domain.attach_media(
            conn, account_id=alice.account.id, media_ids=[one], status_id=first
        )
        await media_domain.attach_media(
            conn, account_id=alice.account.id, media_ids=[two], status_id=second
        )
        grouped = await media_domain.list_media_for_statuses(conn, status_ids=[first, second])
    assert {status: [m.id for m in items] for status, items in grouped.items()} == {
        first: [one],
        second: [two],
    }


# --- profile images ------------------------------------------------------------------------


@pytest.mark.parametrize(("purpose", "size"), [("avatar", (400, 400)), ("header", (1500, 500))])
async def test_profile_images_are_cropped_stored_and_not_attachable(
    client: httpx.AsyncClient,
    alice: StaffMember,
    database: Database,
    settings: Settings,
    purpose: str,
    size: tuple[int, int],
) -> None:
    data = jpeg_bytes((900, 700), exif=exif_with_gps_and_orientation())
    async with database.transaction() as conn:
        media: MediaAttachment = await media_domain.store_profile_image(
            conn,
            media_dir=settings.media_dir,
            limits=UploadLimits.from_settings(settings),
            account_id=alice.account.id,
            data=data,
            purpose=purpose,
        )
    assert media.file_name is not None
    served = await client.get(f"/media/{media.file_name}")
    assert served.status_code == 200
    image = Image.open(io.BytesIO(served.content))
    assert image.size == size
    assert not image.getexif()
    # Not usable as a post attachment, and not visible through the media API.
    status_id = await insert_status(database, alice)
    with pytest.raises(ValidationError):
        async with database.transaction() as conn:
            await media_domain.attach_media(
                conn, account_id=alice.account.id, media_ids=[media.id], status_id=status_id
            )
    response = await client.get(f"/api/v1/media/{media.id}", headers=alice.headers)
    assert response.status_code == 404


async def test_profile_image_rejects_non_images(
    alice: StaffMember, database: Database, settings: Settings
) -> None:
    with pytest.raises(ValidationError):
        async with database.transaction() as conn:
            await media_domain.store_profile_image(
                conn,
                media_dir=settings.media_dir,
                limits=UploadLimits.from_settings(settings),
                account_id=alice.account.id,
                data=b"<svg/>",
                purpose="avatar",
            )
    assert stored_files(settings) == []


async def test_png_text_chunks_and_colour_profiles_are_stripped(
    client: httpx.AsyncClient, alice: StaffMember, settings: Settings
) -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "home address: 1 Secret Lane")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    Image.new("RGB", (50, 50), (1, 2, 3)).save(buffer, "PNG", pnginfo=text, icc_profile=icc)
    assert b"Secret Lane" in buffer.getvalue()
    response = await upload(client, alice, buffer.getvalue())
    assert response.status_code == 200, response.text
    for path in stored_files(settings):
        data = path.read_bytes()
        assert b"Secret Lane" not in data
        assert "icc_profile" not in Image.open(io.BytesIO(data)).info


async def test_animated_gif_keeps_its_first_frame_as_an_image(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    response = await upload(client, alice, buffer.getvalue(), name="a.gif")
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "image"
    served = Image.open(io.BytesIO((await fetch_served(client, response.json()["url"])).content))
    assert served.format == "PNG"
    assert not getattr(served, "is_animated", False)
    assert served.convert("RGB").getpixel((5, 5)) == (255, 0, 0)
