"""The Teams app package in config/teams/ stays installable."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "config" / "teams"


def manifest() -> dict:
    return json.loads((PACKAGE / "manifest.json").read_text())


def png(name: str) -> tuple[int, int, bytes]:
    """Width, height and the raw RGBA rows (filter bytes included) of an 8-bit RGBA PNG."""
    data = (PACKAGE / name).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert (depth, color) == (8, 6)  # 8-bit RGBA
            size = (width, height)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return size[0], size[1], zlib.decompress(idat)


def test_the_manifest_names_the_bot_by_a_placeholder_and_fits_teams_limits():
    m = manifest()
    assert m["id"] == "${{BOT_ID}}"
    (bot,) = m["bots"]
    assert bot["botId"] == "${{BOT_ID}}"
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    assert len(m["name"]["short"]) <= 30 and len(m["description"]["short"]) <= 80
    assert len(m["description"]["full"]) <= 4000
    for command_list in bot["commandLists"]:
        for command in command_list["commands"]:
            assert len(command["title"]) <= 32 and len(command["description"]) <= 128
    assert m["icons"] == {"color": "color.png", "outline": "outline.png"}


def test_the_icons_have_the_sizes_teams_requires():
    assert png("color.png")[:2] == (192, 192)
    width, height, rows = png("outline.png")
    assert (width, height) == (32, 32)
    # The outline icon is white on transparent: every visible pixel is white.
    stride = 1 + 4 * width
    for y in range(height):
        row = rows[y * stride + 1 : (y + 1) * stride]
        assert rows[y * stride] == 0  # no PNG filter, so bytes are pixels
        for x in range(width):
            r, g, b, a = row[4 * x : 4 * x + 4]
            assert a == 0 or (r, g, b) == (255, 255, 255)
