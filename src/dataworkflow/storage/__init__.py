"""Object storage: content-addressed bytes, and the one place that picks a backend.

Backends implement :class:`~dataworkflow.storage.base.ObjectStorage`:
:class:`~dataworkflow.storage.filesystem.FileSystemStorage` (the default),
:class:`~dataworkflow.storage.s3.S3Storage` and
:class:`~dataworkflow.storage.memory.MemoryStorage` (tests and examples). Storage knows
nothing about SQL or HTTP. boto3 is imported only when S3 is actually used.
"""

from __future__ import annotations

from dataworkflow.settings import Settings
from dataworkflow.storage.base import ObjectStorage, StoredObject, SupportsPresignedUrls

__all__ = ["ObjectStorage", "StoredObject", "SupportsPresignedUrls", "open_storage"]


def open_storage(settings: Settings) -> ObjectStorage:
    """The storage the settings ask for: S3 when ``S3_BUCKET`` is set, else a local folder."""
    if settings.s3_bucket:
        from dataworkflow.storage.s3 import S3Storage  # keeps boto3 out of other imports

        return S3Storage(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.aws_region,
            access_key_id=settings.aws_access_key_id,
            secret_access_key=settings.aws_secret_access_key,
        )
    from dataworkflow.storage.filesystem import FileSystemStorage

    return FileSystemStorage(settings.storage_path)
