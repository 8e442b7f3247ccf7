#!/usr/bin/env bash
# Build the collection tarball and run galaxy-importer on it, the import check Galaxy and
# Automation Hub run. Fails on any warning or error the importer prints: it exits 0 even when
# its ansible-lint pass reports violations.
#
# ansible-test is off (no container engine here; `make sanity` runs it), ansible-lint is on.
# The tarball is built from a copy of the files git would commit (tracked, plus untracked files
# that are not ignored), so caches and virtualenvs in the checkout do not reach it.
#
# Usage: bash scripts/galaxy_import.sh     (make galaxy-import sets up both virtualenvs first)
# Environment: VENV (default: <repo>/.venv, for amazon.aws), GALAXY_VENV (default: <repo>/.venv-galaxy).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=scripts/collection_copy.sh
source "$ROOT/scripts/collection_copy.sh"
VENV=${VENV:-$ROOT/.venv}
GALAXY_VENV=${GALAXY_VENV:-$ROOT/.venv-galaxy}
WORK=$ROOT/build/galaxy-import
STAGE=$WORK/stage
LOG=$WORK/importer.log

for tool in "$VENV/bin/python" "$GALAXY_VENV/bin/ansible-galaxy"; do
    if [[ ! -x $tool ]]; then
        echo "galaxy_import.sh: $tool not found; run 'make galaxy-import'" >&2
        exit 2
    fi
done

rm -rf "$WORK"
mkdir -p "$STAGE" "$WORK/dist"
stage_collection "$ROOT" "$STAGE"

# The importer points ANSIBLE_COLLECTIONS_PATH at its own extraction directory; ansible-doc and
# ansible-lint still find collections in ansible_collections directories on the Python path.
link_amazon_aws "$VENV" "$WORK/deps"

cat >"$WORK/galaxy-importer.cfg" <<'EOF'
[galaxy-importer]
run_ansible_test = False
run_ansible_lint = True
EOF

export PATH=$GALAXY_VENV/bin:$PATH
# The Makefile points these at the checkout for the other targets; the importer must see only
# the tarball, and amazon.aws.
unset ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS
export PYTHONPATH=$WORK/deps
export GALAXY_IMPORTER_CONFIG=$WORK/galaxy-importer.cfg

(cd "$STAGE" && ansible-galaxy collection build --output-path "$WORK/dist") 2>&1 | tee "$LOG"
tarball=$(find "$WORK/dist" -name '*.tar.gz')

status=0
# The importer writes importer_result.json to the working directory.
(cd "$WORK" && python -m galaxy_importer.main "$tarball") 2>&1 | tee -a "$LOG" || status=$?

# The importer's own messages ("WARNING: ...", ansible-lint findings among them), and Ansible's.
problems=$(grep -E '^(WARNING|ERROR|CRITICAL)\b|\[(WARNING|ERROR|DEPRECATION WARNING)\]' "$LOG" || true)
if [[ $status -ne 0 || -n $problems ]] || ! grep -q '^Importer processing completed successfully' "$LOG"; then
    echo "galaxy_import.sh: the import of $(basename "$tarball") is not clean (exit status $status):" >&2
    if [[ -n $problems ]]; then printf '%s\n' "$problems" >&2; fi
    echo "galaxy_import.sh: full log in ${LOG#"$ROOT"/}" >&2
    exit 1
fi
echo "galaxy_import.sh: $(basename "$tarball") imports cleanly: no warning, no error (log: ${LOG#"$ROOT"/})"
