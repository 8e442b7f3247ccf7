#!/usr/bin/env bash
# Build the module and role reference: antsibull-docs writes one page per module (from its DOCUMENTATION,
# EXAMPLES and RETURN) and per role (from meta/argument_specs.yml) as reStructuredText, and Sphinx makes HTML
# of them. Fails on any warning of either. No network is needed: the two labels the pages point at in the
# Ansible documentation are defined here, with links to it.
#
# Usage: bash scripts/docs.sh     (make docs sets up the virtualenv and the collections path first)
# Output: build/docs/html/index.html; the reStructuredText in build/docs/rst.
# Environment: VENV (default: <repo>/.venv), ANSIBLE_COLLECTIONS_PATH (a path where cloudops.aws is installed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
VENV=${VENV:-$ROOT/.venv}
OUT=$ROOT/build/docs
export PATH=$VENV/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$ROOT/build/collections}

rm -rf "$OUT"
# antsibull-docs wants its output directory writable by its owner only.
mkdir -p "$OUT/rst"
chmod 700 "$OUT/rst"
antsibull-docs collection --use-current --squash-hierarchy --fail-on-error --dest-dir "$OUT/rst" cloudops.aws \
    2>&1 | tee "$OUT/antsibull-docs.log"
if grep -E -i '(warning|error)' "$OUT/antsibull-docs.log"; then
    echo "docs.sh: antsibull-docs reported the problems above" >&2
    exit 1
fi

cat >"$OUT/rst/ansible_references.rst" <<'RST'
:orphan:

References to the Ansible documentation
=======================================

.. _common_return_values:

Common return values
--------------------

Every module also returns Ansible's common values:
`Return Values <https://docs.ansible.com/projects/ansible/latest/reference_appendices/common_return_values.html>`_.

.. _ansible_configuration_settings:

Ansible configuration settings
------------------------------

`Ansible Configuration Settings <https://docs.ansible.com/projects/ansible/latest/reference_appendices/config.html>`_.
RST

mkdir -p "$OUT/conf"
cat >"$OUT/conf/conf.py" <<'PY'
project = 'cloudops.aws'
extensions = ['sphinx_antsibull_ext']
pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'
html_theme = 'alabaster'
html_show_sphinx = False
html_copy_source = False
default_role = 'any'
nitpicky = True
PY

sphinx-build -b html -c "$OUT/conf" -W --keep-going -q "$OUT/rst" "$OUT/html"
echo "docs.sh: the reference is in ${OUT#"$ROOT"/}/html/index.html"
