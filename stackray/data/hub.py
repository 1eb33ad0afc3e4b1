"""Hugging Face hub multiple-choice sets, mapped onto the stackray schema.

Only useful where the hub is reachable (never at run time on the project's offline machines);
``hf:`` also accepts a local folder or a saved dataset that ``datasets.load_dataset`` can read.
The mapping covers the common layouts and says clearly when a row fits none of them:

- question: ``question`` | ``question_stem`` (OpenBookQA) | ``goal`` (PIQA) | ``ctx`` (HellaSwag)
- options: ``options`` or ``choices`` as a list, a ``{"text": [...], "label": [...]}`` dict (ARC,
  OpenBookQA) or a letter-keyed dict (MedQA); ``endings`` (HellaSwag); ``sol1``/``sol2`` (PIQA)
- answer: an int index, or a label/letter resolved against the option labels, from ``answer`` |
  ``answerKey`` | ``answer_idx`` | ``label``; missing or ``-1`` (hidden test labels) means None.

The mapped record then goes through the same validator as a JSONL line
(`stackray.data.jsonl.record_to_item`), so the checks are the same. trust_remote_code stays off.

No network: before asking the hub, a plain TCP connect to it (HF_ENDPOINT) must succeed within
HUB_CONNECT_TIMEOUT_S; otherwise `NoNetworkError` says so and names the alternatives at once, instead
of the hub client's retries (tens of seconds) and a ConnectionError traceback. With HF_HUB_OFFLINE or
HF_DATASETS_OFFLINE set, the local hub cache is tried and a miss is reported the same way.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import getproxies, proxy_bypass

from stackray.data.items import MCItem
from stackray.data.jsonl import DataError, record_to_item
from stackray.data.registry import NAMED_SETS, Spec
from stackray.errors import NoNetworkError

LETTERS = "ABCDEFGHIJ"
HUB_CONNECT_TIMEOUT_S = 2.0
DEFAULT_ENDPOINT = "https://huggingface.co"
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
_QUESTION_KEYS = ("question", "question_stem", "goal", "ctx")
_ANSWER_KEYS = ("answer", "answerKey", "answer_idx", "label")


def _options_and_labels(row: dict[str, Any], where: tuple[str, int]) -> tuple[list[Any], list[str]]:
    for key in ("options", "choices", "endings"):
        if key not in row:
            continue
        value = row[key]
        if isinstance(value, list):
            return value, list(LETTERS[: len(value)])
        if isinstance(value, dict) and "text" in value:
            labels = value.get("label") or list(LETTERS[: len(value["text"])])
            return list(value["text"]), [str(x) for x in labels]
        if isinstance(value, dict):
            labels = sorted(value)
            return [value[k] for k in labels], labels
        raise DataError(where[0], where[1], key, f"cannot read options from a {type(value).__name__}")
    if "sol1" in row and "sol2" in row:
        return [row["sol1"], row["sol2"]], ["0", "1"]
    raise DataError(where[0], where[1], "options", f"no options field found among {sorted(row)} (tried options, choices, endings, sol1/sol2)")


def _answer_index(row: dict[str, Any], labels: list[str], where: tuple[str, int]) -> int | None:
    for key in _ANSWER_KEYS:
        if key not in row:
            continue
        value = row[key]
        if value is None or value == -1 or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            if value in labels:
                return labels.index(value)
            if value.strip().lstrip("-").isdigit():
                return int(value)
        raise DataError(where[0], where[1], key, f"cannot map answer {value!r} onto option labels {labels}")
    return None


def map_row(row: dict[str, Any], *, source: str, index: int, default_subject: str) -> MCItem:
    """Map one hub row (``index`` 0-based) to an `MCItem`; DataError names source, row and field."""
    where = (source, index + 1)
    question = next((row[k] for k in _QUESTION_KEYS if k in row), None)
    if question is None:
        raise DataError(where[0], where[1], "question", f"no question field found among {sorted(row)} (tried {', '.join(_QUESTION_KEYS)})")
    options, labels = _options_and_labels(row, where)
    record = {
        "id": str(row["id"]) if row.get("id") not in (None, "") else f"{source}/{index}",
        "subject": str(row.get("subject") or default_subject),
        "question": question,
        "options": options,
        "answer": _answer_index(row, labels, where),
    }
    return record_to_item(record, path=source, line=index + 1)


def load_hub_items(spec: Spec) -> list[MCItem]:
    """Load a hub dataset (``hf:`` spec) and map every row; a dataset with several splits needs one named."""
    local = Path(spec.name).expanduser().exists()
    offline = any(os.environ.get(v, "").strip().upper() in ("1", "ON", "YES", "TRUE") for v in _OFFLINE_VARS)
    if not local and not offline:
        _require_hub(spec)
    from datasets import DatasetDict, load_dataset  # heavy import, only for hub specs

    try:
        ds = load_dataset(spec.name, spec.config, split=spec.split)
    except ConnectionError as exc:  # offline mode and not cached, or the network went away meanwhile
        raise _no_network(spec, str(exc), offline=offline) from exc
    split = spec.split
    if isinstance(ds, DatasetDict):
        if len(ds) != 1:
            raise ValueError(f"{spec.text!r}: dataset has splits {sorted(ds)}; name one, e.g. hf:{spec.name}:{sorted(ds)[0]}")
        split, ds = next(iter(ds.items()))
    source = f"hf:{spec.name}" + (f":{spec.config}" if spec.config else "") + f":{split}"
    default_subject = spec.name.rsplit("/", 1)[-1]
    items = [map_row(row, source=source, index=i, default_subject=default_subject) for i, row in enumerate(ds)]
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.id in first:
            raise DataError(source, i + 1, "id", f"duplicate id {item.id!r} (first seen on row {first[item.id] + 1})")
        first[item.id] = i
    return items


def _no_network(spec: Spec, why: str, *, offline: bool = False) -> NoNetworkError:
    cache = "" if offline else "; a copy already in the hub cache is read with HF_HUB_OFFLINE=1"
    return NoNetworkError(
        f"{spec.text!r}: cannot load from the Hugging Face hub ({why}). Without network, use a bundled set "
        f"({', '.join(NAMED_SETS)}; e.g. openbookqa:train) or the path of a local .jsonl file instead{cache}")


def _require_hub(spec: Spec) -> None:
    """Raise NoNetworkError unless a TCP connection to the hub endpoint opens within the timeout."""
    endpoint = os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    url = urlparse(endpoint)
    proxy = getproxies().get(url.scheme)
    if proxy and not proxy_bypass(url.hostname or ""):  # behind a proxy only the proxy must answer
        url = urlparse(proxy if "://" in proxy else f"http://{proxy}")
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    outcome: list[BaseException | None] = []

    def connect() -> None:  # in a thread: a DNS lookup is not bounded by the socket timeout
        try:
            socket.create_connection((host, port), timeout=HUB_CONNECT_TIMEOUT_S).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc)

    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(HUB_CONNECT_TIMEOUT_S + 0.5)
    if not outcome:
        raise _no_network(spec, f"no network? no answer from {endpoint} within {HUB_CONNECT_TIMEOUT_S:g} s")
    if outcome[0] is not None:
        raise _no_network(spec, f"no network? {endpoint} is unreachable: {outcome[0]}")
