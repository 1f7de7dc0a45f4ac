"""The REST API when S3 fails it, on the real stack: a gateway that cannot reach S3 answers 503 with Retry-After
naming S3 (each was a 500 with a traceback) and a delete can be retried once S3 is back; a chunk missing from the
bucket makes reading the episode's steps a 409 naming the chunk, not a 500."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from playcorder.devstack.ports import free_port
from playcorder.devstack.services import ServiceProcess
from playcorder.devstack.stack import DevStack
from playcorder.sdk import ApiError, Client
from playcorder.settings import S3Settings
from playcorder.storage import ObjectStore, episode_prefix
from tests.factories import cartpole_study
from tests.stored import all_steps, stored_episode
from tests.wsclient import play_episode

pytestmark = pytest.mark.e2e


def _episode(client: Client, actions: list[int]) -> dict[str, str]:
    study = client.create_study(cartpole_study())
    participant = client.create_participant(study["id"])
    episode_id = asyncio.run(play_episode(client.url, participant["token"], "cartpole", actions))
    stored_episode(client, episode_id)
    return {"study": study["id"], "episode": episode_id}


@pytest.fixture
def s3_less_gateway(stack: DevStack, tmp_path: Path) -> Iterator[ServiceProcess]:
    """A gateway of its own whose S3 endpoint is a closed port; PostgreSQL and NATS are the suite's."""
    gateway = ServiceProcess("gateway", stack.env() | {"S3_ENDPOINT": f"127.0.0.1:{free_port()}",
                                                       "S3_RETRY_AFTER": "4"},
                             tmp_path, name=f"gateway-{uuid.uuid4().hex[:6]}")
    gateway.start()
    try:
        gateway.wait_ready()  # ready: S3 is no readiness condition (only some requests need it)
        yield gateway
    finally:
        gateway.stop()


def _assert_s3_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503 and r.headers["Retry-After"] == "4", (r.status_code, r.text)
    assert r.json()["detail"].startswith("Expected S3 (the object store) to answer, it is unreachable"), r.text


def test_an_unreachable_s3_gets_503_and_a_delete_can_be_retried(client: Client, designer_token: str,
                                                                s3_less_gateway: ServiceProcess) -> None:
    played = _episode(client, [0, 1, 0])
    http = httpx.Client(base_url=s3_less_gateway.url, headers={"Authorization": f"Bearer {designer_token}"},
                        timeout=60)
    episode = f"/api/episodes/{played['episode']}"
    _assert_s3_unavailable(http.get(f"{episode}/steps"))
    _assert_s3_unavailable(http.delete(episode))
    # What needs only PostgreSQL still works; export links are signed without asking S3.
    assert http.get(episode).json()["id"] == played["episode"]
    assert http.get(f"/api/studies/{played['study']}/exports").status_code == 200
    assert "Traceback" not in s3_less_gateway.tail(200), s3_less_gateway.tail(200)

    client.delete_episode(played["episode"])  # retried where S3 answers: done, as if the first had never happened
    with pytest.raises(ApiError) as gone:
        client.get_episode(played["episode"])
    assert gone.value.status == 404


def test_a_chunk_missing_from_s3_is_named_not_a_500(stack: DevStack, client: Client) -> None:
    played = _episode(client, [1, 0])
    assert len(all_steps(client, played["episode"])) == 3
    objects = ObjectStore(S3Settings(endpoint=stack.s3_endpoint, access_key=stack.s3_access_key,
                                     secret_key=stack.s3_secret_key))  # the services' default bucket
    (key,) = [o.object_name for o in objects.client.list_objects(
        objects.bucket, prefix=episode_prefix(played["study"], played["episode"]), recursive=True)]
    objects.client.remove_object(objects.bucket, key)
    with pytest.raises(ApiError) as damaged:
        client.get_steps(played["episode"])
    assert damaged.value.status == 409, damaged.value
    assert damaged.value.detail.startswith(f"Expected chunk 0 of episode {played['episode']} (steps 0..2) in S3 "
                                           f"at {key!r}, found none"), damaged.value
    client.delete_episode(played["episode"])  # a damaged episode can still be deleted


def test_the_schema_documents_s3_errors(client: Client) -> None:
    paths = httpx.get(f"{client.url}/openapi.json").json()["paths"]
    steps = paths["/api/episodes/{episode_id}/steps"]["get"]["responses"]
    assert "S3" in steps["503"]["description"] and "Retry-After" in steps["503"]["headers"]
    assert "missing from S3" in steps["409"]["description"]
    assert "S3" in paths["/api/episodes/{episode_id}"]["delete"]["responses"]["503"]["description"]
    assert "S3" not in paths["/api/studies"]["get"]["responses"]["503"]["description"]
