#!/usr/bin/env bash
# Run `ansible-test sanity` on the collection: tests/sanity/run-sanity.sh [ansible-test options]
# (for example `--test pylint`). `make sanity` runs it after preparing .venv.
#
# ansible-test wants the collection at .../ansible_collections/<namespace>/<name>, so this copies
# the files git would ship (tracked and new files, not ignored ones) to
# build/sanity/ansible_collections/airgap/hangar and runs there; the checkout stays untouched.
# The copy gets a git repository of its own (no commits): ansible-test lists the files of the
# closest enclosing git work tree, which would otherwise be the checkout, where build/ is ignored.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv=${VENV:-$repo/.venv}
python=$venv/bin/python
copy=$repo/build/sanity/ansible_collections/airgap/hangar

rm -rf "$copy"
mkdir -p "$copy"
cd "$repo"
if [ -e .git ]; then
    # Files deleted in the work tree are still listed by git: copy only those that exist.
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' file; do [ -e "$file" ] && printf '%s\0' "$file"; done |
        tar -cf - --null --no-recursion -T - | tar -xf - -C "$copy"
else
    tar -cf - --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./tests/output \
        --exclude=__pycache__ --exclude=.pytest_cache --exclude=.ruff_cache --exclude=.hypothesis . |
        tar -xf - -C "$copy"
fi
git init --quiet "$copy"

# ansible-test bootstraps pip into the virtualenvs of the sanity tests with a get-pip script that
# it downloads from ci-files.testing.ansible.com, which is out of reach here. It uses the script
# from its cache instead when present: put one there that runs pip from a pip wheel taken from
# the package index (pip runs from a wheel) to install the pip version ansible-test asks for.
python_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
pip_version=$("$python" -c 'import sys, types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version=sys.argv[1]))["pip"])' "$python_version")
cache=$HOME/.ansible/test/cache
get_pip=$cache/get_pip_${pip_version//./_}.py
if [ ! -e "$get_pip" ]; then
    mkdir -p "$cache"
    "$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$cache" "pip==$pip_version"
    cat > "$get_pip" <<EOF
# Stand-in for get-pip.py ($repo/tests/sanity/run-sanity.sh wrote it): ansible-test runs it with
# the new virtualenv's Python and the pip options and packages to install as arguments.
import os, sys
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "pip-$pip_version-py3-none-any.whl"))
from pip._internal.cli.main import main
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--find-links", here] + args))
EOF
fi

cd "$copy"
exec "$venv/bin/ansible-test" sanity --local --python "$python_version" "$@"
