"""Reading-cost benchmark (not a test): what one image costs to read, and a worker's memory
under a flood of expensive ones.

    python -m bench.reading_cost [--repeat 30] [--concurrent 40] [--seconds 10]

1. Milliseconds per reading (``read_digit``: decode and normalise, the part an
   image's size decides), median and max of ``--repeat``, in this process, for
   a 280×280 canvas PNG (what the draw page sends), a 1600×1200 JPEG photo of a
   drawing on paper (uneven light, sensor noise: a phone's picture once it fits
   the 512 KiB limit), the hostile images (2048×2048 PNGs: 16-bit RGBA with a
   transparent sheet, ~110 kB; the same in 8-bit; 16-bit greyscale), the largest
   of each transparent kind that ``decode.MAX_DECODED_BYTES`` still lets in, and
   a 2000×2000 JPEG. A refused image is timed too (its ``refused`` status).
2. ``digits serve --workers 1`` on a free port: the worker's resident memory
   (VmRSS) before, and its peak (VmHWM) while ``--concurrent`` clients post an
   image to ``/api/v1/predict`` over and over for ``--seconds``, and the
   answers' status counts. ``--flood hostile`` (the default) posts the issue's
   2048×2048 16-bit RGBA PNG, ``--flood costliest`` the costliest image still
   read (a 1024×1024 16-bit RGBA PNG). The clients share one address, so the readings' budget answers most
   of them 429 (which is the point); ``--no-budget`` turns it off to see the
   cost of the readings alone.
"""

import argparse
import functools
import io
import json
import statistics
import struct
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from bench.slow_clients import digits_serve
from tests import images
from webapp.reading.decode import ImageError
from webapp.reading.normalise import read_digit


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16(pixels, colour_type):
    """uint16 pixels (h, w[, c]) → a 16-bit PNG (filter 0 on every row, zlib level 9)."""
    height, width = pixels.shape[:2]
    rows = pixels.astype(">u2").reshape(height, -1).tobytes()
    stride = len(rows) // height
    raw = b"".join(b"\x00" + rows[i * stride:(i + 1) * stride] for i in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def ink(side):
    """The canvas's 7 as ink in [0, 1], (side, side)."""
    canvas = Image.open(io.BytesIO(images.drawing("7"))).convert("L")
    return 1 - np.asarray(canvas.resize((side, side), Image.BILINEAR), dtype=np.float64) / 255


@functools.cache
def hostile_rgba16(side=2048):
    """Ink on a transparent sheet: black RGB, the drawing in the alpha channel, 16 bits."""
    alpha = (ink(side) * 65535).astype(np.uint16)
    pixels = np.zeros((side, side, 4), np.uint16)
    pixels[..., 3] = alpha
    return png16(pixels, 6)


@functools.cache
def hostile_rgba8(side=2048):
    rgba = np.zeros((side, side, 4), np.uint8)
    rgba[..., 3] = (ink(side) * 255).astype(np.uint8)
    return images.encode(Image.fromarray(rgba, "RGBA"), "PNG", optimize=True)


@functools.cache
def hostile_grey16(side=2048):
    return png16(((1 - ink(side)) * 65535).astype(np.uint16), 0)


@functools.cache
def photo(width=1600, height=1200, seed=0, quality=85):
    """A drawing on paper as a phone shoots it: uneven light, grain, JPEG quality 85."""
    rng = np.random.default_rng(seed)
    drawing = Image.open(io.BytesIO(images.drawing("7"))).convert("L")
    paper = Image.new("L", (width, height), 255)
    paper.paste(drawing.resize((height * 2 // 3, height * 2 // 3), Image.BICUBIC),
                ((width - height * 2 // 3) // 2, height // 6))
    grey = np.asarray(paper.filter(ImageFilter.GaussianBlur(2)), dtype=np.float64)
    light = np.linspace(0.75, 1.0, width)[None, :] * np.linspace(0.85, 1.0, height)[:, None]
    grey = grey * light * 0.9 + 10 + rng.normal(0, 4, grey.shape)
    rgb = np.stack([grey, grey * 0.97, grey * 0.92], axis=-1).clip(0, 255).astype(np.uint8)
    return images.encode(Image.fromarray(rgb, "RGB"), "JPEG", quality=quality)


def kinds():
    """Each image the benchmark reads: the two honest ones, the hostile ones, and the largest
    of each hostile kind that ``decode.MAX_DECODED_BYTES`` still lets through."""
    return {"canvas 280×280 PNG": images.drawing("7"),
            "photo 1600×1200 JPEG": photo(),
            "hostile 2048×2048 16-bit RGBA PNG": hostile_rgba16(),
            "hostile 2048×2048 8-bit RGBA PNG": hostile_rgba8(),
            "hostile 2048×2048 16-bit grey PNG": hostile_grey16(),
            "largest 16-bit RGBA PNG let in (1024×1024)": hostile_rgba16(1024),
            "largest 8-bit RGBA PNG let in (1448×1448)": hostile_rgba8(1448),
            "2000×2000 JPEG photo": photo(2000, 2000, quality=60)}


def reading_costs(repeat):
    rows = {}
    for name, body in kinds().items():
        times, refused = [], None
        for _ in range(repeat + 1):
            started = time.perf_counter()
            try:
                read_digit(body)
            except ImageError as exc:
                refused = exc.status
            times.append((time.perf_counter() - started) * 1000)
        times = times[1:]
        rows[name] = {"bytes": len(body), "median_ms": round(statistics.median(times), 2),
                      "max_ms": round(max(times), 2), "refused": refused}
    return rows


def memory(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return {line.split(":")[0]: int(line.split()[1]) // 1024 for line in status.splitlines()
            if line.startswith(("VmRSS", "VmHWM"))}


def worker_pid(server_pid):
    """The web worker: the child forked from the server (the training worker is a program
    of its own, with another command line)."""
    command = Path(f"/proc/{server_pid}/cmdline").read_bytes()
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    return next(int(c) for c in children if Path(f"/proc/{c}/cmdline").read_bytes() == command)


def flood(port, body, concurrent, seconds):
    statuses, stop = Counter(), time.monotonic() + seconds
    lock = threading.Lock()

    def client():
        while time.monotonic() < stop:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/predict", data=body,
                                             headers={"Content-Type": "image/png"})
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    answer.read()
                    status = answer.status
            except urllib.error.HTTPError as exc:
                status = exc.code
                if status == 429:
                    time.sleep(float(exc.headers.get("Retry-After") or 1) / 10)
            with lock:
                statuses[status] += 1

    threads = [threading.Thread(target=client) for _ in range(concurrent)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return dict(statuses)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--concurrent", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--flood", choices=("hostile", "costliest"), default="hostile")
    parser.add_argument("--no-budget", action="store_true",
                        help="turn the prediction budget off for the flood")
    args = parser.parse_args(argv)
    report = {"reading_ms": reading_costs(args.repeat)}
    env = {"DIGITS_LOG_REQUESTS": "false"}
    if args.no_budget:
        env["DIGITS_PREDICT_RATE_LIMIT"] = "0"
    hostile = hostile_rgba16(2048 if args.flood == "hostile" else 1024)
    with digits_serve("--workers", "1", env=env) as (port, _env, process):
        worker = worker_pid(process.pid)
        before = memory(worker)
        statuses = flood(port, hostile, args.concurrent, args.seconds)
        after = memory(worker)
    report["flood"] = {"image": args.flood, "concurrent": args.concurrent, "seconds": args.seconds,
                       "budget": not args.no_budget, "statuses": statuses,
                       "rss_before_mb": before["VmRSS"], "peak_rss_mb": after["VmHWM"]}
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
