"""Click through the demo repository in headless Chromium, as a person would."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


def test_browse_home_repository_folder_csv_history_commit_and_back(server, page):
    page.goto(server + "/")
    assert page.title().startswith("Repositories")
    screenshot(page, "01-home")
    page.click("text=example")
    assert page.locator("article.readme h1").inner_text() == "Weather stations"
    screenshot(page, "02-repository")
    page.click("table.files >> text=data")
    page.click("table.files >> text=raw")
    assert "/example/tree/main/data/raw" in page.url
    screenshot(page, "03-folder")
    page.click("table.files >> text=north.csv")
    assert page.locator("table.data thead th").nth(1).inner_text() == "date"
    assert "5 columns" in page.locator(".table-meta").inner_text()
    screenshot(page, "04-csv")
    page.click("a.button:has-text('History')")
    assert "/example/commits/main/data/raw/north.csv" in page.url
    titles = page.locator(".commit-row .commit-title").all_inner_texts()
    assert titles == [
        "Append one more day of north station readings",
        "Add raw readings of two stations and the station map",
    ]
    screenshot(page, "05-history")
    page.click(".commit-row >> nth=0 >> .commit-title")
    assert (
        page.locator(".commit-message h2").inner_text()
        == "Append one more day of north station readings"
    )
    assert page.locator("td.status").all_inner_texts() == ["M"]
    screenshot(page, "06-commit")
    page.go_back()
    assert "/commits/" in page.url
    page.go_back()
    assert page.url.endswith("/example/blob/main/data/raw/north.csv")
    assert page.problems == []


def test_previews_of_parquet_image_and_binary(server, page):
    page.goto(server + "/example/blob/main/data/curated/readings.parquet")
    assert "temperature_c" in page.locator("details.schema").inner_text()
    screenshot(page, "07-parquet")
    page.goto(server + "/example/blob/main/images/station-map.png")
    assert page.locator(".image-preview img").evaluate("img => img.naturalWidth") == 64
    screenshot(page, "08-image")
    page.goto(server + "/example/blob/main/models/forecast.bin")
    assert "Binary file" in page.locator(".preview").inner_text()
    page.goto(server + "/example/blob/main/scripts/retrain.sh")
    assert page.locator(".highlight").count() == 1
    screenshot(page, "09-text")
    assert page.problems == []


def test_switch_branch(server, page):
    page.goto(server + "/example/tree/main/data/curated")
    page.click("details.switcher summary")
    page.click("details.switcher >> text=experiment/cleaning")
    assert page.url.endswith("/example/tree/experiment/cleaning/data/curated")
    assert page.locator(".switcher-label").inner_text() == "experiment/cleaning"
    assert "Drop outliers" in page.locator(".latest-commit").inner_text()
    screenshot(page, "10-branch-switched")
    page.goto(server + "/example/branches")
    row = page.locator("tr", has_text="experiment/cleaning")
    assert row.locator(".ahead").inner_text() == "1" and row.locator(".behind").inner_text() == "1"
    screenshot(page, "11-branches")
    assert page.problems == []


def test_upload_a_file_and_see_the_new_commit(server, page, tmp_path):
    upload = tmp_path / "notes.txt"
    upload.write_text("uploaded from the browser\n")
    sign_in(page, server, "ada")
    page.goto(server + "/example/tree/main/data")
    page.click("a.button:has-text('Upload files')")
    page.set_input_files("input[name=files]", str(upload))
    page.fill("textarea[name=message]", "Add notes from the browser")
    page.fill("input[name=author]", "Browser Tester")
    screenshot(page, "12-upload-form")
    page.click("button:has-text('Commit changes')")
    assert page.url.endswith("/example/tree/main/data")
    assert "Committed" in page.locator(".flash-success").inner_text()
    assert "Add notes from the browser" in page.locator(".latest-commit").inner_text()
    page.click("table.files >> text=notes.txt")
    assert "uploaded from the browser" in page.locator(".highlight").inner_text()
    screenshot(page, "13-uploaded")
    assert page.problems == []


def test_hostile_file_name_executes_nothing(server, page, tmp_path):
    name = "<img src=x onerror=alert(1)>.txt"
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    (hostile / name).write_text("<script>alert(2)</script>\n")
    sign_in(page, server, "ada")
    page.goto(server + "/example/upload/main")
    page.set_input_files("input[name=files]", str(hostile / name))
    page.fill("textarea[name=message]", "<script>alert(3)</script> hostile upload")
    page.click("button:has-text('Commit changes')")
    assert page.locator("table.files", has_text=name).count() == 1
    screenshot(page, "14-hostile-listing")
    page.click(f"table.files >> text={name}")
    assert re.search(r"/blob/main/", page.url)
    assert "<script>alert(2)</script>" in page.locator(".highlight").inner_text()
    screenshot(page, "15-hostile-file")
    page.goto(server + "/example/commits/main")
    assert (
        "<script>alert(3)</script> hostile upload" in page.locator(".commit-row").first.inner_text()
    )
    page.goto(server + "/example/raw/main/" + name.replace("<", "%3C").replace(">", "%3E"))
    assert page.problems == []


def test_compare_see_a_csv_table_diff_and_merge(server, page):
    sign_in(page, server, "ada")
    page.goto(server + "/example/compare/main...experiment/cleaning?key=date")
    diff = page.locator(".file-diff", has_text="data/raw/hill.csv")
    assert "~1 changed" in diff.locator(".table-meta").inner_text()
    assert diff.locator("td.cell-changed ins").first.inner_text() == "hill-top"
    screenshot(page, "16-compare")
    page.click("button:has-text('Merge into main')")
    assert "/example/commit/" in page.url
    assert "Merged experiment/cleaning into main" in page.locator(".flash-success").inner_text()
    assert page.locator(".commit-facts dt", has_text="parents").count() == 1
    screenshot(page, "17-merge-commit")
    page.goto(server + "/example/tree/main/data/raw")
    assert page.problems == []
