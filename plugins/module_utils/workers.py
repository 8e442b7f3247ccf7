# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One bounded worker pool for fan-out over many resources (docs/architecture.md: never one loop item each)."""

from concurrent.futures import ThreadPoolExecutor


class Outcome:
    """The result of one call: either value or error is set, for the item it was called with."""

    __slots__ = ("item", "value", "error")

    def __init__(self, item, value=None, error=None):
        self.item = item
        self.value = value
        self.error = error

    @property
    def ok(self):
        return self.error is None


def _call(func, item):
    try:
        return Outcome(item, value=func(item))
    except Exception as error:  # pylint: disable=broad-except
        # One resource failing must not stop the others (safety rule 5); the caller reports it.
        return Outcome(item, error=error)


def run_bounded(func, items, max_concurrency):
    """Call func on every item with at most max_concurrency calls in flight; outcomes in item order."""
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrency, len(items)))) as pool:
        return list(pool.map(lambda item: _call(func, item), items))
