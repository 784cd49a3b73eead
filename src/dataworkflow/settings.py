"""Runtime configuration: each setting declared once, with its variable, default and help."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataworkflow.errors import InvalidSetting


def setting(default: Any, *, env: str, help: str) -> Any:
    """A dataclass field that knows its environment variable and help text."""
    return field(default=default, metadata={"env": env, "help": help})


@dataclass(frozen=True)
class Settings:
    """Runtime configuration, read from the environment (and ``.env``)."""

    database_url: str = setting(
        "sqlite:///./dataworkflow.db",
        env="DATABASE_URL",
        help="SQLAlchemy URL of the metadata database (sqlite:/// or postgresql+psycopg://)",
    )
    storage_path: Path = setting(  # noqa: RUF009 (Path is immutable)
        Path("./.dataworkflow"),
        env="STORAGE_PATH",
        help="Local folder for object bytes when S3_BUCKET is unset (in its objects/ subfolder)",
    )
    s3_bucket: str | None = setting(
        None,
        env="S3_BUCKET",
        help="Store object bytes in this S3 bucket; unset means a local folder",
    )
    s3_prefix: str = setting(
        "", env="S3_PREFIX", help="Key prefix inside the bucket, e.g. 'dataworkflow/'"
    )
    s3_endpoint_url: str | None = setting(
        None,
        env="S3_ENDPOINT_URL",
        help="Endpoint of an S3-compatible store (MinIO, R2, Ceph); unset means AWS",
    )
    aws_region: str | None = setting(None, env="AWS_REGION", help="AWS region of the bucket")
    aws_access_key_id: str | None = setting(
        None, env="AWS_ACCESS_KEY_ID", help="S3 access key; unset uses boto3's default chain"
    )
    aws_secret_access_key: str | None = setting(
        None, env="AWS_SECRET_ACCESS_KEY", help="S3 secret key; unset uses boto3's default chain"
    )
    flask_secret_key: str = setting(
        "dev-secret-change-me",
        env="FLASK_SECRET_KEY",
        help="Secret that signs web sessions; set a long random value in production",
    )
    port: int = setting(5001, env="PORT", help="Port the web server listens on")
    session_hours: int = setting(
        336, env="SESSION_HOURS", help="Hours a web sign-in lasts without activity (14 days)"
    )
    sign_in_max_failures: int = setting(
        5,
        env="SIGN_IN_MAX_FAILURES",
        help="Failed sign-ins per account within 15 minutes before it is locked for 15 minutes",
    )
    sign_in_max_failures_per_address: int = setting(
        20,
        env="SIGN_IN_MAX_FAILURES_PER_ADDRESS",
        help="Failed sign-ins from one address within 15 minutes before it is refused",
    )
    proxy_count: int = setting(
        0,
        env="PROXY_COUNT",
        help="Reverse proxies in front of the server whose X-Forwarded-* headers are trusted",
    )
    reflog_retention_days: int = setting(
        90,
        env="REFLOG_RETENTION_DAYS",
        help="Days the ref log keeps old commits reachable for garbage collection",
    )
    search_max_file_bytes: int = setting(
        1_048_576,
        env="SEARCH_MAX_FILE_BYTES",
        help="Largest text file whose content is indexed for search",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Settings:
        """Build from environment variables (after loading ``.env`` when ``dotenv``).

        Raises:
            InvalidSetting: if a value is malformed.
        """
        if environ is None:
            if dotenv:
                from dotenv import find_dotenv, load_dotenv

                # From the working folder: a user's .env is next to their data, not
                # next to the installed package.
                load_dotenv(find_dotenv(usecwd=True), override=False)
            environ = os.environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            if f.type in ("int", int):
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise InvalidSetting(
                        f"{f.metadata['env']} must be an integer, got {raw!r}"
                    ) from None
            elif f.type in ("Path", Path):
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw
        return cls(**values)

    @classmethod
    def documented(cls) -> list[tuple[str, Any, str]]:
        """``(variable, default, help)`` for every setting, for docs and ``.env.example``."""
        return [(f.metadata["env"], f.default, f.metadata["help"]) for f in dataclasses.fields(cls)]
