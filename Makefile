# airgap.hangar: `make demo` runs the main job on local registries; `make test` installs what the
# tests need and runs them all. `make help` lists the other targets.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.NOTPARALLEL:
.DEFAULT_GOAL := help

VENV := .venv
REQUIREMENTS := requirements.txt tests/requirements.txt
# Extra pytest options, e.g. `make pytest PYTEST_ARGS="-k reference -x"`.
PYTEST_ARGS ?=
# Test tools as command:Debian package; installed with apt when a command is missing.
TEST_TOOLS := docker-registry:docker-registry skopeo:skopeo htpasswd:apache2-utils openssl:openssl \
	shellcheck:shellcheck

# The Python that makes .venv: $(PYTHON) when given, else the first Python >= 3.11 among
# python3.11, python3 and pyenv's versions (pyenv's shims may not be on a CI machine's PATH).
PYTHON ?= $(shell for p in python3.11 python3 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[1-9]*/bin/python3; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { "$$p" -c 'import sys; print(sys.executable)'; break; }; done)

# The test commands run with .venv's bin first on PATH (ansible-playbook, ansible-test) and keep
# bytecode and hypothesis caches under build/ (ruff.toml puts ruff's there): a run leaves nothing
# in the checkout but build/.
IN_VENV := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PYTHONPYCACHEPREFIX="$(CURDIR)/build/pycache" \
	HYPOTHESIS_STORAGE_DIRECTORY="$(CURDIR)/build/hypothesis"

.PHONY: help demo test bench deps system-deps venv pytest lint sanity ecosystem clean distclean

help:
	@echo "make demo         run the main job on local registries (demo/run_demo.py)"
	echo "make bench        benchmarks against skopeo (bench/README.md; BENCH_ARGS=--quick)"
	echo "make test         install what the tests need, then run pytest, ruff, ansible-test sanity and ecosystem"
	echo "make deps         install the test tools (apt) and .venv (pip); cheap when done already"
	echo "make pytest       unit and integration tests (PYTEST_ARGS=... for more pytest options)"
	echo "make lint         ruff check"
	echo "make sanity       ansible-test sanity on a copy of the collection under build/sanity"
	echo "make ecosystem    ansible-lint (production), galaxy-importer on the built tarball, changelog lint"
	echo "make clean        remove build/; make distclean also removes .venv"

demo: deps
	@$(IN_VENV) python demo/run_demo.py

# Benchmarks against skopeo (bench/README.md); BENCH_ARGS=--quick for a ~1.5 min development run.
bench: deps
	@$(IN_VENV) python bench/run.py $(BENCH_ARGS)

test: pytest lint sanity ecosystem

deps: system-deps venv

# apt-get runs only when a command is missing; sudo only when not root.
system-deps:
	@missing=()
	for tool in $(TEST_TOOLS); do
	    command -v "$${tool%%:*}" >/dev/null || missing+=("$${tool#*:}")
	done
	python='$(PYTHON)'
	if [ -z "$$python" ]; then
	    missing+=(python3 python3-venv)  # Debian 12's python3 is 3.11
	elif ! "$$python" -c 'import ensurepip' 2>/dev/null; then
	    missing+=(python3-venv)  # Debian's python3 makes virtualenvs only with it
	fi
	if [ "$${#missing[@]}" -eq 0 ]; then
	    echo "System packages: all present"
	    exit 0
	fi
	sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo
	echo "Installing with apt-get: $${missing[*]}"
	$$sudo apt-get update -q
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$${missing[@]}"
	# Debian's docker-registry package starts a service listening on all interfaces (port 5000)
	# where systemd runs; the tests start their own registries on 127.0.0.1 only.
	if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
	    $$sudo systemctl disable --now docker-registry
	fi

# pip runs only when .venv is missing or broken or the requirements files changed since the
# last install (the stamp holds their sha256).
venv:
	@stamp=$(VENV)/.requirements.sha256
	want=$$(cat $(REQUIREMENTS) | sha256sum | cut -d' ' -f1)
	if $(VENV)/bin/python -c '' 2>/dev/null && [ "$$(cat "$$stamp" 2>/dev/null)" = "$$want" ]; then
	    echo "$(VENV): up to date"
	    exit 0
	fi
	if ! $(VENV)/bin/python -c '' 2>/dev/null; then
	    python='$(PYTHON)'
	    if [ -z "$$python" ]; then
	        echo "No Python 3.11 or newer found: install one or run make with PYTHON=/path/to/python3.11" >&2
	        exit 1
	    fi
	    echo "Creating $(VENV) with $$python"
	    rm -rf $(VENV)
	    "$$python" -m venv $(VENV)
	fi
	$(VENV)/bin/python -m pip install --quiet $(addprefix -r ,$(REQUIREMENTS))
	echo "$$want" > "$$stamp"

pytest: deps
	@$(IN_VENV) python -m pytest $(PYTEST_ARGS)

lint: deps
	@$(IN_VENV) ruff check .

sanity: deps
	@$(IN_VENV) tests/sanity/run-sanity.sh

# What Galaxy, Automation Hub and collection maintainers run (tests/ecosystem/run-ecosystem.sh);
# fails on any violation or warning. ansible-builder's check is a pytest test.
ecosystem: deps
	@$(IN_VENV) tests/ecosystem/run-ecosystem.sh

clean:
	rm -rf build

distclean: clean
	rm -rf $(VENV)
