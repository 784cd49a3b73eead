"""The README's Python examples run as written, and every setting is documented."""

import re
from pathlib import Path

from dataworkflow.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"^```python\n(.*?)^```$", (ROOT / "README.md").read_text(), re.M | re.S)
    assert len(blocks) >= 5, "blob, tree, commit, branch and the high-level example"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    namespace["db"].dispose()
    assert namespace["repo"].resolve("main") == namespace["commit_hash"]


def test_every_setting_is_in_env_example():
    example = (ROOT / ".env.example").read_text()
    for env, _default, _help in Settings.documented():
        assert re.search(rf"^#? ?{env}=", example, re.M), env


def test_settings_from_env(tmp_path):
    settings = Settings.from_env(
        {"DATABASE_URL": "sqlite:///x.db", "PORT": "8080", "STORAGE_PATH": "/data"}
    )
    assert (settings.database_url, settings.port, str(settings.storage_path)) == (
        "sqlite:///x.db",
        8080,
        "/data",
    )
    import pytest

    from dataworkflow.errors import InvalidSetting

    with pytest.raises(InvalidSetting):
        Settings.from_env({"PORT": "eighty"})
