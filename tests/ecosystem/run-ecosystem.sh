#!/usr/bin/env bash
# The checks Galaxy, Automation Hub and collection maintainers run, on this collection:
#   tests/ecosystem/run-ecosystem.sh [lint] [build] [importer] [changelog]   (all four when none is named)
# `make ecosystem` runs it with .venv's bin first on PATH. Any violation or warning fails the run.
# - lint: ansible-lint --strict --profile production on the files git would ship, copied to
#   build/ecosystem/tree/ansible_collections/airgap/hangar (ansible-lint writes a cache, .ansible/, into
#   the directory it lints: the checkout stays clean).
# - build: ansible-galaxy collection build into build/collection, which is where
#   docs/awx/execution-environment.yml takes the tarball from; the tarball must hold no copy of
#   itself or of another collection.
# - importer: galaxy-importer (settings in galaxy-importer.cfg beside this script) on that tarball.
# - changelog: antsibull-changelog lint (the fragments and changelogs/changelog.yaml).
# The execution environment's build context (ansible-builder create) is checked by pytest:
# tests/integration/test_execution_environment.py.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$repo/tests/ecosystem
work=$repo/build/ecosystem
cd "$repo"
steps=("$@")
[ "${#steps[@]}" -gt 0 ] || steps=(lint build importer changelog)

version=$(python -c 'import yaml, sys; print(yaml.safe_load(open("galaxy.yml"))["version"])')
tarball=$repo/build/collection/airgap-hangar-$version.tar.gz

# A step's output is shown; a line that is a warning or an error fails it (galaxy-importer says
# WARNING/ERROR and still exits 0 for many findings).
no_warnings() {
    local log=$1
    if grep -E '(^|[^A-Za-z])(WARNING|ERROR)([^A-Za-z]|$)' "$log"; then
        echo "FAILED: the lines above are warnings or errors" >&2
        return 1
    fi
}

lint() {
    local tree=$work/tree/ansible_collections/airgap/hangar
    rm -rf "$work/tree"
    mkdir -p "$tree"
    if [ -e .git ]; then
        git ls-files -z --cached --others --exclude-standard |
            while IFS= read -r -d '' file; do [ -e "$file" ] && printf '%s\0' "$file"; done |
            tar -cf - --null --no-recursion -T - | tar -xf - -C "$tree"
    else
        tar -cf - --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./.ansible . | tar -xf - -C "$tree"
    fi
    git init --quiet "$tree"
    # --offline: no schema refresh and no version check over the network (which would warn as soon as a newer
    # ansible-lint is out); the copy's collections path lets the playbooks' airgap.hangar.* names resolve.
    (cd "$tree" && ANSIBLE_COLLECTIONS_PATH=$work/tree ANSIBLE_LINT_SKIP_SCHEMA_UPDATE=1 \
        ansible-lint --strict --offline --profile production --nocolor) 2>&1 | tee "$work/ansible-lint.log"
    no_warnings "$work/ansible-lint.log"
}

build() {
    rm -rf "$repo/build/collection"
    ansible-galaxy collection build --output-path "$repo/build/collection" "$repo"
    local shipped
    shipped=$(tar -tzf "$tarball")
    if grep -E '(^|/)\.ansible/|\.tar\.gz$|(^|/)(build|\.venv|\.git)/' <<<"$shipped"; then
        echo "FAILED: the tarball ships the paths above (add them to build_ignore in galaxy.yml)" >&2
        return 1
    fi
}

importer() {
    [ -f "$tarball" ] || build
    mkdir -p "$work/importer"
    # It writes importer_result.json into the current directory.
    (cd "$work/importer" && GALAXY_IMPORTER_CONFIG=$here/galaxy-importer.cfg python -m galaxy_importer.main "$tarball") \
        2>&1 | tee "$work/galaxy-importer.log"
    no_warnings "$work/galaxy-importer.log"
}

changelog() {
    antsibull-changelog lint 2>&1 | tee "$work/antsibull-changelog.log"
    # It prints one line per problem and nothing when all is well.
    if [ -s "$work/antsibull-changelog.log" ]; then
        echo "FAILED: antsibull-changelog lint found the problems above" >&2
        return 1
    fi
}

mkdir -p "$work"
for step in "${steps[@]}"; do
    case $step in
        lint|build|importer|changelog) ;;
        *) echo "unknown step: $step (lint, build, importer, changelog)" >&2; exit 2 ;;
    esac
    echo "== $step"
    start=$SECONDS
    "$step"
    echo "== $step: passed in $((SECONDS - start)) s"
done
