"""Draws Baton's icon (a conductor's baton on a rounded indigo tile) as a 1024px RGBA PNG.

No imaging library: coverage comes from signed distances, so edges are anti-aliased.
The files in src-tauri/icons/ were made from its output:

    python3 scripts/make-icon.py /tmp/baton-icon.png
    npx tauri icon /tmp/baton-icon.png -o /tmp/baton-icons
    cp /tmp/baton-icons/{32x32.png,128x128.png,128x128@2x.png,icon.png,icon.ico,icon.icns} src-tauri/icons/
"""
import math
import struct
import sys
import zlib

SIZE = 1024


def smooth(d):
    # Signed distance (px, negative inside) to coverage in [0, 1] over a 1px edge.
    return max(0.0, min(1.0, 0.5 - d))


def rounded_square(x, y, half, radius):
    c = SIZE / 2
    qx = abs(x - c) - (half - radius)
    qy = abs(y - c) - (half - radius)
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
    return outside + min(max(qx, qy), 0.0) - radius


def capsule(x, y, ax, ay, bx, by, ra, rb):
    # Distance to a segment whose radius tapers from ra at a to rb at b.
    px, py = x - ax, y - ay
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, (px * dx + py * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - dx * t, py - dy * t) - (ra + (rb - ra) * t)


def blend(dst, src, a):
    return tuple(d * (1 - a) + s * a for d, s in zip(dst, src))


def pixel(x, y):
    bg_cov = smooth(rounded_square(x, y, 460, 200))
    if bg_cov == 0.0:
        return (0, 0, 0, 0)
    # Diagonal gradient, indigo to violet.
    t = (x + y) / (2 * SIZE)
    color = (
        int(67 + (124 - 67) * t),
        int(56 + (58 - 56) * t),
        int(202 + (237 - 202) * t),
    )
    # Baton shaft: from the handle (lower left) to a fine tip (upper right).
    shaft = smooth(capsule(x, y, 330, 700, 790, 240, 28, 9))
    color = blend(color, (250, 250, 252), shaft)
    # Cork handle: a short, thick, warm capsule at the lower-left end.
    handle = smooth(capsule(x, y, 255, 775, 345, 685, 52, 40))
    color = blend(color, (222, 170, 110), handle)
    return (int(color[0]), int(color[1]), int(color[2]), int(round(255 * bg_cov)))


def png(width, height, rows):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


rows = []
for y in range(SIZE):
    row = []
    for x in range(SIZE):
        row.extend(pixel(x + 0.5, y + 0.5))
    rows.append(row)

with open(sys.argv[1], "wb") as f:
    f.write(png(SIZE, SIZE, rows))
