#!/usr/bin/env bash
# Run `ansible-test sanity` on this collection from any checkout location.
#
# ansible-test only works from inside .../ansible_collections/<namespace>/<name>, and it
# resolves symlinks, so a symlinked collections path is not enough.  This script copies
# the collection's files (tracked, plus untracked files that are not ignored, so it also
# works before committing) to build/sanity/ansible_collections/cloudops/aws, makes the
# dependency amazon.aws available next to it, and runs ansible-test there.
#
# Usage: bash scripts/sanity.sh [extra ansible-test sanity arguments, e.g. --test pylint]
# Environment: VENV (default: <repo>/.venv), SANITY_PYTHON (default: 3.11).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=scripts/collection_copy.sh
source "$ROOT/scripts/collection_copy.sh"
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
SANITY_PYTHON=${SANITY_PYTHON:-3.11}
COLLECTION_ROOT=$ROOT/build/sanity
STAGE=$COLLECTION_ROOT/ansible_collections/cloudops/aws

if [[ ! -x $VENV/bin/ansible-test ]]; then
    echo "sanity.sh: $VENV/bin/ansible-test not found; run 'make venv' first" >&2
    exit 2
fi

# --- pip bootstrap for the virtual environments ansible-test creates -----------------
# ansible-test downloads get-pip.py from a host that CI machines may not reach, unless a
# cached copy exists.  Install scripts/get_pip_standin.py as that cached copy, named after
# the pip version this ansible-test pins.  A real get-pip.py already in the cache is kept.
pip_version=$("$PY" - <<'EOF' 2>/dev/null || true
import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="3")).get("pip", ""))
EOF
)
if [[ -z $pip_version ]]; then
    # Fallback for ansible-test releases where the helper above changed shape.
    pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',$/\1/p" \
        "$("$PY" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py" | head -n 1)
fi
if [[ -z $pip_version ]]; then
    echo "sanity.sh: cannot tell which pip version ansible-test bootstraps" >&2
    exit 2
fi
cache=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
mkdir -p "$(dirname "$cache")"
if [[ ! -e $cache ]] || grep -q 'cloudops.aws get-pip stand-in' "$cache"; then
    cp "$ROOT/scripts/get_pip_standin.py" "$cache"
fi

# --- stage the collection ----------------------------------------------------------------
rm -rf "$STAGE"
mkdir -p "$STAGE"
stage_collection "$ROOT" "$STAGE"
# ansible-test lists content with git when the collection is in a work tree; without a
# repository here it would find the checkout's own (where build/ is ignored) and see no
# files.  Untracked files are listed too, so nothing needs to be committed.
git -C "$STAGE" init --quiet

# Dependencies are found in the same collection root as the collection under test.
link_amazon_aws "$VENV" "$COLLECTION_ROOT"

# --- run -----------------------------------------------------------------------------------
cd "$STAGE"
export PATH=$VENV/bin:$PATH
# The Makefile points these at the checkout for the other targets; ansible-test must see
# only the staged copy.
unset PYTHONPATH ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS
status=0
ansible-test sanity --local --python "$SANITY_PYTHON" --requirements "$@" || status=$?
echo "sanity.sh: results are in ${STAGE#"$ROOT"/}/tests/output" >&2
exit "$status"
