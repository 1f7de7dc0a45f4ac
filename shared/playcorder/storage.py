"""Object storage through the minio client: SeaweedFS locally and MinIO/S3 in Kubernetes need the same code.

The minio client is blocking, so every call here runs in a worker thread and never on the event loop. A failure
to reach S3 surfaces as one of `UNREACHABLE` (or an S3Error with a code of `BUSY_CODES`, see `unreachable`); an
object that is not there as `MissingObject`.
"""

from __future__ import annotations

import asyncio
import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import certifi
import urllib3
from minio import Minio
from minio.error import S3Error, ServerError

from .settings import S3Settings

# Connection refused or reset, timeouts, retries exhausted (urllib3), a 5xx answer that is no S3 error (minio).
UNREACHABLE: tuple[type[Exception], ...] = (urllib3.exceptions.HTTPError, ServerError)
# What an S3 server answers while it starts, stops or is overloaded.
BUSY_CODES = frozenset({"ServiceUnavailable", "SlowDown", "InternalError", "RequestTimeout"})
# minio's default waits 5 minutes to connect (then retries 5 times): a blackholed S3 would hang a request for half
# an hour. Reads keep minio's default, generous for large objects.
CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 10.0, 300.0


def unreachable(err: BaseException) -> bool:
    """Whether `err` says S3 cannot be reached (or cannot answer now), rather than refusing a request."""
    return isinstance(err, UNREACHABLE) or (isinstance(err, S3Error) and err.code in BUSY_CODES)


class MissingObject(LookupError):
    """The object asked for is not in the bucket."""

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"Expected object {key!r} in bucket {bucket!r}, found none")
        self.bucket, self.key = bucket, key


class ObjectStore:
    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self.client = self._client(settings.endpoint)
        # Presigned links must carry the host clients use; signing is local, so a separate client costs nothing.
        self._signer = self._client(settings.public_endpoint or settings.endpoint)

    def _client(self, endpoint: str) -> Minio:
        s = self.settings
        http = urllib3.PoolManager(  # minio's own default (certificates too), but for the connect timeout
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S), maxsize=10,
            cert_reqs="CERT_REQUIRED", ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        return Minio(endpoint, access_key=s.access_key, secret_key=s.secret_key, secure=s.secure, region=s.region,
                     http_client=http)

    # ---------------------------------------------------------------- sync API (call from threads)
    def ensure_bucket_sync(self) -> None:
        if not self.client.bucket_exists(self.bucket):
            try:
                self.client.make_bucket(self.bucket)
            except S3Error as err:  # another replica created it first
                if err.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    def put_bytes_sync(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)

    def get_bytes_sync(self, key: str) -> bytes:
        try:
            response = self.client.get_object(self.bucket, key)
        except S3Error as err:
            if err.code == "NoSuchKey":
                raise MissingObject(self.bucket, key) from err
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def put_file_sync(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        # fput_object switches to multipart upload for large files on its own.
        self.client.fput_object(self.bucket, key, str(path), content_type=content_type)

    def delete_prefix_sync(self, prefix: str) -> int:
        names = [o.object_name for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)]
        for name in names:
            self.client.remove_object(self.bucket, name)
        return len(names)

    def presign_get_sync(self, keys: list[str], expires_in: int) -> tuple[list[str], datetime]:
        """Download links to `keys`, and when they expire. Signing is local (the region is configured)."""
        expires = timedelta(seconds=expires_in)
        expires_at = datetime.now(UTC) + expires
        return [self._signer.presigned_get_object(self.bucket, key, expires=expires) for key in keys], expires_at

    # ---------------------------------------------------------------- async wrappers
    async def ensure_bucket(self) -> None:
        await asyncio.to_thread(self.ensure_bucket_sync)

    async def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        await asyncio.to_thread(self.put_bytes_sync, key, data, content_type)

    async def get_bytes(self, key: str) -> bytes:
        return await asyncio.to_thread(self.get_bytes_sync, key)

    async def presign_get(self, keys: list[str], expires_in: int) -> tuple[list[str], datetime]:
        # One thread hop for all of them: a directory-tree export has a link per file.
        return await asyncio.to_thread(self.presign_get_sync, keys, expires_in)


def preview_key(study_id: str, version: int, env_key: str) -> str:
    """The frame a study version's environment showed when it was tried (JPEG)."""
    return f"studies/{study_id}/v{version}/{env_key}.jpg"


def episode_prefix(study_id: str, episode_id: str) -> str:
    return f"episodes/{study_id}/{episode_id}/"


def chunk_key(study_id: str, episode_id: str, seq: int) -> str:
    return f"{episode_prefix(study_id, episode_id)}chunk-{seq:06d}.pcr"


def export_key(study_id: str, export_id: str, filename: str) -> str:
    return f"exports/{study_id}/{export_id}/{filename}"
