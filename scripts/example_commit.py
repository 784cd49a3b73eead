"""Build the demo repository `example`: folders, README, CSV, Parquet, PNG, binary,
several commits on two branches and a tag. With --if-empty, do nothing when the
installation already holds a repository; always print what `example` holds.
"""

from __future__ import annotations

import argparse
import io
import random
import struct
import sys
import zlib
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq

from dataworkflow import Database, Put, Repository, create_repository, list_repositories
from dataworkflow.errors import DataWorkflowError
from dataworkflow.settings import Settings
from dataworkflow.storage import open_storage

NAME = "example"
AUTHOR = ("Ada Lovelace", "ada@example.com")
START = datetime(2026, 1, 5, 9, 30, tzinfo=timezone(timedelta(hours=1)))

README = """# Weather stations

Daily observations from three stations, versioned with DataWorkflow.

| folder | what |
|---|---|
| `data/raw/` | readings as delivered (CSV) |
| `data/curated/` | cleaned readings (Parquet) |
| `images/` | station map |
| `models/` | a trained model (binary) |

`main` holds released data; `experiment/cleaning` tries a new outlier filter.
"""


def png(width: int, height: int, seed: int) -> bytes:
    """A small RGB PNG with a gradient, written with zlib alone."""
    rng = random.Random(seed)
    tint = [rng.randrange(256) for _ in range(3)]
    rows = b"".join(
        b"\x00"
        + bytes(
            v
            for x in range(width)
            for v in ((x * 255) // width, (y * 255) // height, tint[(x + y) % 3])
        )
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def readings_csv(station: str, days: int, seed: int) -> bytes:
    rng = random.Random(seed)
    lines = ["date,station,temperature_c,humidity_pct,wind_kmh"]
    for day in range(days):
        date = (START + timedelta(days=day)).date().isoformat()
        lines.append(
            f"{date},{station},{rng.uniform(-5, 25):.1f},{rng.randrange(30, 100)},"
            f"{rng.uniform(0, 60):.1f}"
        )
    return ("\n".join(lines) + "\n").encode()


def curated_parquet(days: int, seed: int, max_temperature: float | None = None) -> bytes:
    rng = random.Random(seed)
    table = pa.table(
        {
            "date": [(START + timedelta(days=d)).date() for d in range(days)],
            "station": [rng.choice(["north", "harbour", "hill"]) for _ in range(days)],
            "temperature_c": [round(rng.uniform(-5, 25), 1) for _ in range(days)],
            "valid": [rng.random() > 0.1 for _ in range(days)],
        }
    )
    if max_temperature is not None:  # the experiment's stricter outlier filter
        import pyarrow.compute as pc

        table = table.filter(pc.less_equal(table["temperature_c"], max_temperature))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def build(repo: Repository) -> None:
    when = iter(START + timedelta(hours=6 * i) for i in range(100))
    commit = repo.commit
    commit(
        "main",
        [
            Put("README.md", README.encode()),
            Put("data/raw/north.csv", readings_csv("north", 30, 1)),
            Put("data/raw/harbour.csv", readings_csv("harbour", 30, 2)),
            Put("images/station-map.png", png(64, 48, 3)),
        ],
        "Add raw readings of two stations and the station map",
        author=AUTHOR[0],
        author_email=AUTHOR[1],
        authored_at=next(when),
        metadata={"source": "ftp://stations.example.com/2026-01"},
    )
    commit(
        "main",
        [
            Put("data/raw/hill.csv", readings_csv("hill", 30, 4)),
            Put("data/curated/readings.parquet", curated_parquet(90, 5)),
        ],
        "Add the hill station and curated Parquet readings",
        author="Grace Hopper",
        author_email="grace@example.com",
        authored_at=next(when),
        metadata={"pipeline run": "curate#17"},
    )
    commit(
        "main",
        [
            Put("models/forecast.bin", random.Random(6).randbytes(4096)),
            Put("scripts/retrain.sh", b"#!/bin/sh\necho retraining\n", executable=True),
        ],
        "Add the forecast model and its retraining script",
        author=AUTHOR[0],
        author_email=AUTHOR[1],
        authored_at=next(when),
    )
    repo.create_tag("v1.0")
    repo.create_branch("experiment/cleaning")
    commit(
        "experiment/cleaning",
        [
            Put("data/curated/readings.parquet", curated_parquet(90, 5, max_temperature=22.0)),
            Put(
                "data/raw/hill.csv",
                readings_csv("hill", 30, 4).replace(b",hill,", b",hill-top,", 1),
            ),
        ],
        "Drop outliers with a stricter filter\n\nAlso corrects the hill station's name.",
        author="Grace Hopper",
        author_email="grace@example.com",
        authored_at=next(when),
    )
    commit(
        "main",
        [Put("data/raw/north.csv", readings_csv("north", 31, 1))],
        "Append one more day of north station readings",
        author=AUTHOR[0],
        author_email=AUTHOR[1],
        authored_at=next(when),
    )


def describe(repo: Repository) -> None:
    print(f"repository {repo.name!r} (default branch {repo.default_branch})")
    print("branches: " + ", ".join(f"{n} {c[:10]}" for n, c in repo.list_branches()))
    print("tags:     " + ", ".join(f"{n} {c[:10]}" for n, c in repo.list_tags()))
    print("files on main:")
    for item in repo.walk("main"):
        if item.entry.kind == "blob":
            print(f"  {item.entry.mode.value} {item.size:>8}  {item.path}")
    print("history of main:")
    for entry in repo.log("main").commits:
        print(f"  {entry.id[:10]} {entry.commit.author.name:<14} {entry.commit.title}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--if-empty", action="store_true", help="skip if any repository exists")
    args = parser.parse_args()
    try:
        settings = Settings.from_env()
        db = Database(settings.database_url)
        db.upgrade()
        storage = open_storage(settings)
        existing = [r.name for r in list_repositories(db)]
        if NAME not in existing and not (args.if_empty and existing):
            create_repository(db, NAME, description="Daily weather station readings (demo)")
            build(Repository(db, storage, NAME))
            print(f"created the example repository {NAME!r}")
        if NAME in [r.name for r in list_repositories(db)]:
            describe(Repository(db, storage, NAME))
        else:
            print("the installation is not empty; the example repository was not loaded")
    except DataWorkflowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
