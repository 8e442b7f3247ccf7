"""Write the variables table of each role's README.md from the role's meta/argument_specs.yml.

The table sits between BEGIN and END below; the rest of the README is written by hand.

Usage: python scripts/role_variables.py           rewrite the tables that are out of date
       python scripts/role_variables.py --check   list them and exit 1, changing nothing
"""

import html
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- variables: generated from meta/argument_specs.yml by scripts/role_variables.py -->"
END = "<!-- end of variables -->"
# Ansible's documentation markup: I(option), C(value), M(module), O(option), V(value), B(bold).
MARKUP = re.compile(r"\b([ICMOVB])\(([^()]*)\)")


def code(text):
    """Inline code for a table cell; a pipe would end the cell, so such a value is written as HTML."""
    if "|" in text:
        return "<code>%s</code>" % html.escape(text, quote=False).replace("|", "&#124;")
    return "`%s`" % text


def prose(text):
    text = " ".join(text) if isinstance(text, list) else str(text)
    text = text.replace("|", "\\|")
    return MARKUP.sub(lambda m: "**%s**" % m.group(2) if m.group(1) == "B" else code(m.group(2)), text)


def type_of(option):
    kind = option.get("type", "str")
    return "%s of %s" % (kind, option["elements"]) if option.get("elements") else kind


def default_of(option):
    if option.get("required"):
        return "required"
    if "default" not in option:
        return ""
    value = option["default"]
    return code(value if isinstance(value, str) and value else json.dumps(value))


def description_of(option):
    text = prose(option.get("description", ""))
    if option.get("choices"):
        text += " One of %s." % ", ".join(code(str(choice)) for choice in option["choices"])
    return text


def variables_table(specs):
    """The generated part of a README, BEGIN and END included."""
    lines = [BEGIN]
    entry_points = specs.get("argument_specs") or {}
    for entry_point, spec in sorted(entry_points.items()):
        if len(entry_points) > 1:
            lines += ["", "Entry point `%s`:" % entry_point]
        lines += ["", "| variable | type | default | description |", "|---|---|---|---|"]
        for name, option in (spec.get("options") or {}).items():
            lines.append("| `%s` | %s | %s | %s |" % (name, type_of(option), default_of(option), description_of(option)))
    lines += ["", END]
    return "\n".join(lines)


def load_specs(role_dir):
    for name in ("argument_specs.yml", "argument_specs.yaml"):
        path = role_dir / "meta" / name
        if path.exists():
            return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {}


def updated_readme(role_dir):
    """(current text, text with the table regenerated); ValueError when the README has no markers."""
    readme = role_dir / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError("%s: no variables section (%s ... %s)" % (readme.relative_to(ROOT), BEGIN, END))
    return text, text[:start] + variables_table(load_specs(role_dir)) + text[end + len(END):]


def role_dirs():
    return sorted(path for path in (ROOT / "roles").iterdir() if path.is_dir())


def main(argv):
    check = "--check" in argv
    stale = []
    for role_dir in role_dirs():
        try:
            current, wanted = updated_readme(role_dir)
        except (OSError, ValueError) as error:
            print(error, file=sys.stderr)
            return 1
        if current != wanted:
            stale.append(role_dir / "README.md")
            if not check:
                (role_dir / "README.md").write_text(wanted, encoding="utf-8")
    for path in stale:
        print("%s %s" % ("out of date:" if check else "updated:", path.relative_to(ROOT)))
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
