"""The suite's Ray (tests/conftest.py) is private to the session: its own folder, its own token, no
inherited cluster address, and actors a module leaks can be killed."""

import os
from pathlib import Path

import pytest

from ray_session import kill_alive_actors, ray_temp_dir

pytestmark = pytest.mark.slow


def test_session_ray_lives_in_its_own_folder_with_its_own_token(ray_local):
    assert "RAY_ADDRESS" not in os.environ
    session = Path(os.environ["RAY_TMPDIR"])
    assert session.name.startswith(f"stackray-ray-{os.getpid()}-")
    node = ray_local._private.worker.global_worker.node
    assert Path(node.get_session_dir_path()).parent == Path(ray_temp_dir())
    assert len(node.plasma_store_socket_name.encode()) < 108  # a UNIX socket path limit
    assert os.environ["RAY_AUTH_MODE"] == "token"
    assert Path(os.environ["RAY_AUTH_TOKEN_PATH"]).parent == session
    # The file through which ray.init() would join a `ray start` cluster is the session's own one.
    assert Path(ray_local._private.utils.get_ray_address_file(None)).parent == Path(ray_temp_dir())


def test_leaked_actors_are_killed(ray_local):
    class Leaky:  # defined here so that it is pickled by value (workers cannot import test modules)
        def ping(self):
            return "pong"

    actor = ray_local.remote(num_cpus=0)(Leaky)
    held = actor.remote()  # a handle this process still holds
    named = actor.options(name="leaky-named", lifetime="detached").remote()
    assert ray_local.get([held.ping.remote(), named.ping.remote()]) == ["pong", "pong"]
    del named  # a detached named actor outlives its handle
    killed, unreachable = kill_alive_actors(ray_local)
    assert sorted(killed) == sorted(["Leaky(leaky-named)", f"Leaky({held._actor_id.hex()[:8]})"])
    assert unreachable == []
    assert ray_local._private.state.actors(actor_id=held._actor_id.hex())["State"] == "DEAD"
    with pytest.raises(ray_local.exceptions.RayActorError):
        ray_local.get(held.ping.remote(), timeout=60)
    with pytest.raises(ValueError):
        ray_local.get_actor("leaky-named")
