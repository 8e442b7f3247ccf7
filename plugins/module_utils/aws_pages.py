# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pagination with a retry per page, and chunking of long id lists."""

# AWS accepts at most 200 values in one filter.
FILTER_VALUES_LIMIT = 200


def all_pages(call, result_key, token_key="NextToken", request_token_key=None, **params):
    """Every item of a paginated describe.

    `call` is a method of a client made with an AWSRetry decorator: each page is retried on
    its own, so a throttled page 7 does not repeat pages 1 to 6 as a whole-paginator retry would.
    The next page's token comes in `token_key` and goes back in `request_token_key` (the same
    key unless the API names them apart, as ELBv2's NextMarker and Marker).
    """
    items = []
    while True:
        page = call(aws_retry=True, **params)
        items.extend(page.get(result_key, []))
        token = page.get(token_key)
        if not token:
            return items
        params[request_token_key or token_key] = token


def chunks(values, size=FILTER_VALUES_LIMIT):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]
