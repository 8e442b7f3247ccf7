# shellcheck shell=bash
# Sourced by sanity.sh and galaxy_import.sh: both hand a tool a copy of the collection as it would be published,
# with the amazon.aws it depends on next to it. Errors name the script that sourced this file.

# stage_collection ROOT STAGE: copies the files git would commit from the checkout ROOT to STAGE (tracked, plus
# untracked files that are not ignored, so it also works before committing), so caches and virtualenvs in the
# checkout do not reach the copy.
stage_collection() {
    local root=$1 stage=$2
    (
        cd "$root" || exit 2
        # --cached also lists tracked files deleted from the work tree; copy only what exists.
        # A symlinked .venv or build escapes the directory patterns in .gitignore: skip them.
        git ls-files -z --cached --others --exclude-standard |
            while IFS= read -r -d '' path; do
                case $path in .venv | .venv/* | build | build/*) continue ;; esac
                if [[ -e $path || -L $path ]]; then printf '%s\0' "$path"; fi
            done |
            tar --null --no-recursion -T - -cf - |
            tar -C "$stage" -xf -
    )
}

# link_amazon_aws VENV COLLECTION_ROOT: links COLLECTION_ROOT/ansible_collections/amazon/aws to the amazon.aws
# (its doc fragments, module_utils and modules) that comes with the ansible package in the virtualenv VENV.
link_amazon_aws() {
    local venv=$1 collection_root=$2 amazon_aws
    amazon_aws=$("$venv/bin/python" -c '
import importlib.util
spec = importlib.util.find_spec("ansible_collections.amazon.aws")
print(list(spec.submodule_search_locations)[0] if spec else "")
')
    if [[ -z $amazon_aws ]]; then
        echo "${0##*/}: amazon.aws is not installed in $venv (it comes with the ansible package)" >&2
        exit 2
    fi
    mkdir -p "$collection_root/ansible_collections/amazon"
    ln -sfn "$amazon_aws" "$collection_root/ansible_collections/amazon/aws"
}
