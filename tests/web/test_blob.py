"""The file page: previews of every kind, permalinks, and previews of large files."""

import hashlib
import io

import pytest

from dataworkflow.services.changes import Put
from dataworkflow.services.installation import create_repository
from dataworkflow.services.repository import Repository
from tests.web.conftest import (
    BINARY,
    GeneratedCsv,
    Tags,
    big_parquet_bytes,
    commit,
    page,
)

MiB = 1024 * 1024


def test_text_has_highlighting_and_line_anchors(client, sample) -> None:
    html = page(client, "/sample/blob/main/src/main.py")
    assert 'id="L-3"' in html
    assert 'href="#L-3"' in html
    assert '<span class="kn">import</span>' in html  # Pygments token classes
    assert "5 lines" in html


def test_markdown_is_rendered_and_sanitized(client, sample) -> None:
    html = page(client, "/sample/blob/main/README.md")
    assert "<h1>Sample data</h1>" in html
    tags = Tags(html)
    assert all(script.get("src") for script in tags.all("script"))
    assert not any(href.lower().startswith("javascript:") for href in tags.hrefs())
    assert "<script>alert" not in html


def test_csv_as_table(client, sample) -> None:
    html = page(client, "/sample/blob/main/data/weather.csv")
    assert "3 columns" in html
    assert "3 rows" in html
    assert "<th>rain</th>" in html
    assert "<td>Lima</td><td>19.0</td><td>0</td>" in html


def test_tsv_as_table(client, sample) -> None:
    html = page(client, "/sample/blob/main/data/ids.tsv")
    assert "2 columns" in html
    assert "2 rows" in html
    assert "<td>2</td><td>beta</td>" in html


def test_parquet_schema_and_rows(client, sample) -> None:
    html = page(client, "/sample/blob/main/data/cities.parquet")
    assert "<td>population</td><td><code>int64</code></td>" in html
    assert "<td>Lima</td><td>10004000</td>" in html
    assert "3 rows" in html


def test_corrupt_parquet_is_shown_as_binary(client, sample) -> None:
    commit(sample.repo, "main", {"bad.parquet": b"PAR1 not really"}, "Bad parquet", 9)
    html = page(client, "/sample/blob/main/bad.parquet")
    assert "not a readable Parquet file" in html


def test_image_inline(client, sample) -> None:
    html = page(client, "/sample/blob/main/images/pixel.png")
    images = Tags(html).all("img")
    assert images == [{"src": "/sample/raw/main/images/pixel.png", "alt": "pixel.png"}]


def test_binary_shows_size_type_and_hash(client, sample) -> None:
    html = page(client, "/sample/blob/main/bin/blob.bin")
    assert "Binary file" in html
    assert "1.0 KB" in html
    assert "application/octet-stream" in html
    assert hashlib.sha256(BINARY).hexdigest() in html


def test_empty_file(client, sample) -> None:
    assert "This file is empty." in page(client, "/sample/blob/main/empty.txt")


def test_executable_file_is_shown_as_text(client, sample) -> None:
    html = page(client, "/sample/blob/main/bin/run.sh")
    assert "echo" in html


def test_raw_download_and_history_buttons(client, sample) -> None:
    hrefs = Tags(page(client, "/sample/blob/feature/x/data/weather.csv")).hrefs()
    assert "/sample/raw/feature/x/data/weather.csv" in hrefs
    assert "/sample/raw/feature/x/data/weather.csv?download=1" in hrefs
    assert "/sample/commits/feature/x/data/weather.csv" in hrefs


def test_permalink_uses_the_full_commit_id(client, sample) -> None:
    hrefs = Tags(page(client, "/sample/blob/main/src/main.py")).hrefs()
    permalink = f"/sample/blob/{sample.head}/src/main.py"
    assert permalink in hrefs
    commit(sample.repo, "main", {"src/main.py": b"print('moved on')\n"}, "Change main.py", 9)
    assert "getcwd" in page(client, permalink)  # still the old content
    assert "moved on" in page(client, "/sample/blob/main/src/main.py")


def test_file_at_a_revision_expression(client, sample) -> None:
    assert "to be deleted" in page(client, "/sample/blob/main~2/notes.txt")
    assert "getcwd" in page(client, "/sample/blob/feature/x~1/src/main.py")


def test_csv_above_the_preview_limit_counts_rows_exactly(client, db, storage) -> None:
    create_repository(db, "mid")
    repo = Repository(db, storage, "mid")
    rows = 40_000  # about 600 KB: more than the preview reads, less than the exact-count limit
    data = b"n,square\n" + b"".join(f"{i},{i * i}\n".encode() for i in range(rows))
    commit(repo, "main", {"mid.csv": data}, "Mid-sized CSV", 1)
    html = page(client, "/mid/blob/main/mid.csv")
    assert f"{rows:,} rows" in html
    assert "≈" not in html
    assert "showing the first 100" in html


@pytest.fixture
def large_csv(db, storage) -> int:
    """A 50 MiB CSV committed as a stream to repository ``large``; returns its size."""
    size = 50 * MiB
    create_repository(db, "large")
    repo = Repository(db, storage, "large")
    result = repo.commit("main", [Put("big.csv", io.BufferedReader(GeneratedCsv(size)))], "Big")
    assert result.created
    assert repo.stat("main", "big.csv").size == size
    return size


def test_large_csv_preview_reads_only_the_head(counting_app, large_csv) -> None:
    app, counting = counting_app
    response = app.test_client().get("/large/blob/main/big.csv")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert counting.bytes_read < 2 * MiB
    assert "3 columns" in html
    assert "≈" in html  # an estimate, not a count of 50 MiB
    assert "<td>1</td><td>7</td><td>row-00000001</td>" in html


def test_large_csv_repository_home_and_listing_read_nothing(counting_app, large_csv) -> None:
    app, counting = counting_app
    client = app.test_client()
    assert client.get("/large/").status_code == 200
    assert client.get("/large/tree/main").status_code == 200
    assert client.get("/large/commits/main").status_code == 200
    assert counting.bytes_read == 0


def test_large_csv_range_reads_only_the_range(counting_app, large_csv) -> None:
    app, counting = counting_app
    response = app.test_client().get("/large/raw/main/big.csv", headers={"Range": "bytes=-10"})
    assert response.status_code == 206
    assert len(response.get_data()) == 10
    size = large_csv
    assert response.headers["Content-Range"] == f"bytes {size - 10}-{size - 1}/{size}"
    assert counting.bytes_read < 64 * 1024  # the sniffed head and the range, not the file


def test_csv_that_does_not_parse_is_shown_as_text(client, sample) -> None:
    cell = "x" * 200_000  # over the csv module's field size limit
    commit(sample.repo, "main", {"wide.csv": f"a,b\n{cell},1\n".encode()}, "Wide", 9)
    html = page(client, "/sample/blob/main/wide.csv")
    assert 'class="preview preview-text"' in html
    assert cell[:1000] in html


def test_large_parquet_preview_reads_only_the_first_row_group(counting_app, db, storage) -> None:
    app, counting = counting_app
    create_repository(db, "pq")
    commit(Repository(db, storage, "pq"), "main", {"big.parquet": big_parquet_bytes()}, "PQ", 1)
    html = page(app.test_client(), "/pq/blob/main/big.parquet")
    assert "80,000 rows" in html
    assert "<td>0</td>" in html
    assert counting.bytes_read < 2 * MiB
