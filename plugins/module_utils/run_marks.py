# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run marks: how a run recognises what it made itself when AWS's answer to a create was lost.

Create calls without a client token (CreateSnapshot, CopySnapshot, SendCommand) can act in AWS
while the answer never reaches the caller; the retry then makes a twin. Each run stamps a mark
that is unique to it at the end of the description (or the command's comment) of what it
creates, so the run, or a later one, can tell its own twins from another run's work. See
docs/architecture.md, "Retried and overlapping runs".
"""

import re
import uuid

_MARK = re.compile(r"\[run ([0-9a-f]{12})\]$")


class RunMark:
    """The mark of one run: "[run <12 hex digits>]" at the end of a text."""

    def __init__(self, token=None):
        self.token = token or uuid.uuid4().hex[:12]
        self.text = "[run %s]" % self.token

    def stamp(self, text, limit=None):
        """`text` with the mark after it; with `limit`, the text is cut so both fit."""
        if not text:
            return self.text
        if limit is not None:
            text = text[:max(0, limit - len(self.text) - 1)]
        return "%s %s" % (text, self.text)

    def is_on(self, text):
        return mark_token(text) == self.token


def mark_token(text):
    """The token of the run mark `text` ends with, or None."""
    match = _MARK.search(text or "")
    return match.group(1) if match else None
