"""`stackray featurize` end to end on a tiny random model saved as a local folder."""

import pytest

from stackray.cli import main


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, request):
    tiny_model = request.getfixturevalue("tiny_model")
    tok = request.getfixturevalue("smollm_tokenizer")
    folder = tmp_path_factory.mktemp("tiny")
    tiny_model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder


def test_featurize_fills_the_cache_then_hits_it(tiny_folder, tmp_path, capsys):
    argv = ["featurize", "--data", "arc_easy:test", "--limit", "6", "--model", str(tiny_folder),
            "--cache-dir", str(tmp_path), "--d-h", "8", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "features (6, " in out and "wrote " in out and "zero-shot accuracy" in out
    assert len(list(tmp_path.glob("*.npy"))) == 1
    assert main(argv) == 0
    assert "cache hit" in capsys.readouterr().out


def test_featurize_bad_data_spec_is_a_clear_error(tmp_path, capsys):
    assert main(["featurize", "--data", "nosuchset:test", "--cache-dir", str(tmp_path)]) == 2
    assert "stackray featurize: error:" in capsys.readouterr().err
