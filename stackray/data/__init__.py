"""Multiple-choice data: the item record, loaders for the bundled sets, padding to a validity mask.

Heavy dependencies (`datasets`) are imported only by the functions that need them, so importing
this package costs numpy and the standard library.
"""

from stackray.data.items import MCItem
from stackray.data.jsonl import DataError, read_jsonl, record_to_item
from stackray.data.loaders import as_hf_dataset, data_file_hash, describe, items_hash, load_items, select_items
from stackray.data.padding import gold_array, max_options, option_mask
from stackray.data.registry import ENV_VAR, NAMED_SETS, data_root, parse_spec, resolve_path

__all__ = [
    "ENV_VAR",
    "NAMED_SETS",
    "DataError",
    "MCItem",
    "as_hf_dataset",
    "data_file_hash",
    "data_root",
    "describe",
    "gold_array",
    "items_hash",
    "load_items",
    "max_options",
    "option_mask",
    "parse_spec",
    "read_jsonl",
    "record_to_item",
    "resolve_path",
    "select_items",
]
