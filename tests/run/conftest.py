"""One embedded local Ray for the whole test session (2 CPUs, no dashboard, a small object store)."""

import pytest


@pytest.fixture(scope="session")
def ray_local():
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, log_to_driver=False)
    yield ray


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny random Llama with SmolLM2's tokenizer (loads in a second; see tiny_model.py)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    """A feature cache shared by the tiny-model runs (the first run fills it)."""
    return tmp_path_factory.mktemp("feature_cache")
