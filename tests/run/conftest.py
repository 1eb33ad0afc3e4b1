"""Fixtures of the run tests: the tiny model and a shared feature cache (`ray_local` is in tests/conftest.py)."""

import pytest


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
