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


def run_bounded(func, items, max_concurrency, on_done=None):
    """Call func on every item with at most max_concurrency calls in flight; outcomes in item order.

    `on_done(outcome)`, when given, is called in the worker thread as each call ends, so a caller
    can act on early results (prune a group once its backup is made) while the others run.
    """
    items = list(items)
    if not items:
        return []

    def call(item):
        outcome = _call(func, item)
        if on_done is not None:
            on_done(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrency, len(items)))) as pool:
        return list(pool.map(call, items))
