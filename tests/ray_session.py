"""Helpers of the session's Ray (tests/conftest.py): where it lives, and killing the actors a module leaked."""

from __future__ import annotations

import os
import time


def ray_temp_dir() -> str:
    """Where the session's Ray keeps its sockets, logs and ray_current_cluster (what Ray derives from RAY_TMPDIR)."""
    return os.path.join(os.environ["RAY_TMPDIR"], "ray")


def kill_alive_actors(ray, timeout_s: float = 60.0) -> tuple[list[str], list[str]]:
    """Kill every ALIVE actor of the session's Ray that a handle can be had for; (killed, unreachable).

    An actor whose handles all went out of scope is already dead (Ray reference-counts non-detached
    actors), so an actor alive here is held by a stale handle in this process (killed through it), or
    is named (found with ray.get_actor), or is a detached one without a name, which only
    `ray.shutdown()` ends. The GCS actor table is read directly: `ray.util.state.list_actors` needs
    the dashboard, which the session's Ray does not run.
    """
    from ray._private import state
    from ray.exceptions import ActorHandleNotFoundError

    core_worker = ray._private.worker.global_worker.core_worker
    killed: dict[str, str] = {}
    unreachable = []
    for actor_id, info in state.actors(actor_state_name="ALIVE").items():
        label = f"{info['ActorClassName'].rsplit('.', 1)[-1]}({info['Name'] or actor_id[:8]})"
        try:
            core_worker.kill_actor(ray.ActorID(bytes.fromhex(actor_id)), True)  # what ray.kill(handle) does
            killed[actor_id] = label
            continue
        except ActorHandleNotFoundError:
            pass
        if info["Name"]:
            try:
                ray.kill(ray.get_actor(info["Name"]), no_restart=True)
                killed[actor_id] = label
                continue
            except ValueError:  # named in another namespace, or gone meanwhile
                pass
        unreachable.append(label)
    if killed:
        _wait_dead(ray, state, killed, time.monotonic() + timeout_s)
    return list(killed.values()), unreachable


def _wait_dead(ray, state, actor_ids, deadline: float) -> None:
    """A kill is asynchronous: wait until the GCS reports the actors dead, then (briefly, without failing:
    something else may hold CPUs) until the raylet reports their CPUs free again."""
    pending = set(actor_ids)
    while pending and time.monotonic() < deadline:
        pending = {a for a in pending if state.actors(actor_id=a).get("State") not in ("DEAD", None)}
        if pending:
            time.sleep(0.1)
    if pending:
        raise TimeoutError(f"actors {sorted(pending)} still alive after ray.kill")
    total, soft_deadline = ray.cluster_resources().get("CPU", 0), min(deadline, time.monotonic() + 5)
    while ray.available_resources().get("CPU", 0) < total and time.monotonic() < soft_deadline:
        time.sleep(0.05)
