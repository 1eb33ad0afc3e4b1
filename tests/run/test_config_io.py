"""Reading a config file: duplicate keys, non-UTF-8 bytes and non-mapping YAML are errors naming the file."""

from __future__ import annotations

import pytest

from stackray.run import ConfigError, load_config


def _write(tmp_path, data: str | bytes):
    path = tmp_path / "c.yaml"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.mark.parametrize("text, match", [
    ("data: {pool: openbookqa:train}\ngame:\n  beta: 0.1\n  c: 1.0\n  beta: 0.5\n",
     r"c\.yaml: line 5: duplicate key 'beta' \(first set on line 3\)"),
    ("game: {beta: 0.1}\ndata: {pool: openbookqa:train}\ngame: {c: 1.0}\n",
     r"c\.yaml: line 3: duplicate key 'game' \(first set on line 1\)"),
    ("data: {pool: openbookqa:train, pool: openbookqa:test}\n", r"c\.yaml: line 1: duplicate key 'pool'"),
])
def test_duplicate_keys_name_file_and_line(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_write(tmp_path, text))


def test_yaml_merge_keys_may_be_overridden(tmp_path):
    text = "data: {pool: openbookqa:train}\ngame:\n  <<: {beta: 0.1, c: 2.0}\n  c: 0.5\n"
    assert load_config(_write(tmp_path, text)).game.c == 0.5


def test_non_utf8_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"c\.yaml: not UTF-8 text \(byte 0xe9 at offset 9\)"):
        load_config(_write(tmp_path, "name: caf\xe9\n".encode("latin-1") + b"data: {pool: openbookqa:train}\n"))


@pytest.mark.parametrize("text, match", [
    ("just a string\n", r"c\.yaml: expected a mapping of sections at the top level, got str"),
    ("- a\n- b\n", r"c\.yaml: expected a mapping .* got list"),
    ("", r"c\.yaml: data\.pool: required"),  # an empty file is an empty mapping
    ("data: {pool: [oops\n", r"(?s)c\.yaml: not valid YAML: .*\"/.*c\.yaml\", line 2"),
])
def test_not_a_mapping_or_not_yaml_names_the_file(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_write(tmp_path, text))
