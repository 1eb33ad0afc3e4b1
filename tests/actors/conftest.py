"""One embedded local Ray for the whole test session (2 CPUs, no dashboard, a small object store)."""

import pytest


@pytest.fixture(scope="session")
def ray_local():
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, log_to_driver=False)
    yield ray
