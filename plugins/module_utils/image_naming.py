# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AMI names from a template, always valid for AWS (3-128 characters of a limited set)."""

import re
import string

from ansible_collections.cloudops.aws.plugins.module_utils.ownership import NAME_TIMESTAMP_FORMAT

DEFAULT_NAME_TEMPLATE = "{instance_name}-{instance_id}-{policy}-{timestamp}"
PLACEHOLDERS = ("instance_name", "instance_id", "policy", "timestamp", "date")
NAME_MIN, NAME_MAX = 3, 128
# AWS allows letters, digits, ( ) [ ] space . / - ' @ _ in AMI names.
DISALLOWED = re.compile(r"[^A-Za-z0-9()\[\] ./\-'@_]")


def validate_name_template(template):
    """Raise ValueError naming an unknown placeholder before anything is created."""
    try:
        fields = [field for _text, field, _spec, _conversion in string.Formatter().parse(template) if field is not None]
    except ValueError as error:
        raise ValueError("name: cannot parse template %r: %s" % (template, error)) from error
    unknown = sorted(set(fields) - set(PLACEHOLDERS))
    if unknown:
        raise ValueError("name: unknown placeholder %s in %r; use %s" % (
            ", ".join("{%s}" % field for field in unknown), template, ", ".join("{%s}" % p for p in PLACEHOLDERS)))
    # AMI names are unique per account and region: a name that does not change with time would
    # make every later run collide with the first backup instead of making a new generation.
    if not {"timestamp", "date"} & set(fields):
        raise ValueError("name: template %r gives the same AMI name every run; include {timestamp} (or {date} for at most one backup a day)" % template)


DESCRIPTION_PLACEHOLDERS = ("policy", "instance_id", "instance_name")
# CreateImage refuses longer descriptions.
DESCRIPTION_MAX = 255


def validate_description_template(template):
    """Raise ValueError naming a bad description template before anything is created."""
    if template is None:
        return
    try:
        fields = [field for _text, field, _spec, _conversion in string.Formatter().parse(template) if field is not None]
    except ValueError as error:
        raise ValueError("description: cannot parse template %r: %s" % (template, error)) from error
    unknown = sorted(set(fields) - set(DESCRIPTION_PLACEHOLDERS))
    if unknown:
        raise ValueError("description: unknown placeholder %s in %r; use %s" % (
            ", ".join("{%s}" % field for field in unknown), template, ", ".join("{%s}" % p for p in DESCRIPTION_PLACEHOLDERS)))
    fixed = template.format(**{placeholder: "" for placeholder in DESCRIPTION_PLACEHOLDERS})
    if len(fixed) > DESCRIPTION_MAX:
        raise ValueError("description: template %r is %d characters without its placeholders; AWS allows %d" % (template, len(fixed), DESCRIPTION_MAX))


def sanitize(text):
    return DISALLOWED.sub("-", text)


def render_image_name(template, instance, policy, moment):
    """The AMI name for one instance; the instance's Name is shortened first if the result is too long."""
    values = {
        "instance_name": sanitize(instance["name"] or instance["instance_id"]),
        "instance_id": instance["instance_id"],
        "policy": sanitize(policy),
        "timestamp": moment.strftime(NAME_TIMESTAMP_FORMAT),
        "date": moment.strftime("%Y-%m-%d"),
    }
    name = sanitize(template.format(**values))
    overflow = len(name) - NAME_MAX
    if overflow > 0 and "{instance_name}" in template:
        values["instance_name"] = values["instance_name"][:max(1, len(values["instance_name"]) - overflow)]
        name = sanitize(template.format(**values))
    if not NAME_MIN <= len(name) <= NAME_MAX:
        raise ValueError("name: template %r gives %r for %s, which is not %d-%d characters long" % (
            template, name, instance["instance_id"], NAME_MIN, NAME_MAX))
    return name
