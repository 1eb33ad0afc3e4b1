"""Multiple-choice data: the item record, loaders for the bundled sets, padding to a validity mask."""

from stackray.data.items import MCItem

__all__ = ["MCItem"]
