# The two commands of the README:  `make run`  and  `make test`.
# Both create the virtual environment (and install missing system packages) on first use.
VENV ?= .venv
STAMP := $(VENV)/.installed
SRC := kiosk firmware_bridge tests benchmarks setup.py assets
# The compiled catalogs: setup.py builds them at install; these rules rebuild any .po edited since.
CATALOGS := $(patsubst %.po,%.mo,$(wildcard assets/locale/*/LC_MESSAGES/kiosk.po))

.PHONY: run test lint bench setup clean lock deb check-arm64 catalogs

run: $(STAMP) catalogs
	$(VENV)/bin/kiosk demo

test: $(STAMP) catalogs lint
	$(VENV)/bin/pytest -n auto

lint: $(STAMP)
	$(VENV)/bin/ruff check $(SRC)
	$(VENV)/bin/ruff format --check $(SRC)
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/verify.py
	$(VENV)/bin/python benchmarks/statuslist.py
	$(VENV)/bin/python benchmarks/decode.py
	$(VENV)/bin/python benchmarks/scan_latency.py
	$(VENV)/bin/python benchmarks/screens.py
	$(VENV)/bin/python benchmarks/app_latency.py
	$(VENV)/bin/python benchmarks/startup.py
	$(VENV)/bin/python benchmarks/startup.py --soak 10000

setup: $(STAMP)

catalogs: $(CATALOGS)

assets/locale/%/LC_MESSAGES/kiosk.mo: assets/locale/%/LC_MESSAGES/kiosk.po | $(STAMP)
	$(VENV)/bin/pybabel -q compile -D kiosk -i $< -o $@ -l $*

$(STAMP): pyproject.toml setup.py requirements/test.txt scripts/setup.sh
	scripts/setup.sh $(VENV)
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Regenerate the hash-locked dependency files from pyproject.toml's ranges (needs uv).
LOCK := uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -q
lock:
	$(LOCK) -o requirements/kiosk.txt
	$(LOCK) --extra test -o requirements/test.txt

# The Debian package for this machine's architecture: dist/citycard-kiosk_<version>_<arch>.deb
deb:
	scripts/build-deb.sh

# Build, install and test the arm64 package in an emulated Debian root (slow; needs root).
check-arm64:
	scripts/check-arm64.sh
