# Quick start targets (see README). Both create .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_FLAGS ?= --disable-pip-version-check --progress-bar off
HOST ?= 127.0.0.1
PORT ?= 8050

.PHONY: demo test install install-test browser bench clean-cache

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) --upgrade pip

install: $(PY)
	$(PY) -m pip install $(PIP_FLAGS) -e .

install-test: $(PY)
	$(PY) -m pip install $(PIP_FLAGS) -e '.[test]'

# Debian's Chromium + ChromeDriver for the browser tests, only when missing.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update && $$SUDO apt-get install -y chromium chromium-driver; \
	fi

demo: install
	$(VENV)/bin/topoact demo --host $(HOST) --port $(PORT)

test: install-test browser
	$(VENV)/bin/pytest --headless -q

bench: install
	$(PY) -m pip install $(PIP_FLAGS) -e '.[bench]'
	$(PY) -m pip install $(PIP_FLAGS) --no-deps torch-lucent==0.1.8
	$(PY) benchmarks/collect.py
	$(PY) benchmarks/mapper.py
	$(PY) benchmarks/persistence.py
	$(PY) benchmarks/featvis.py

# The user cache (demo model, demo run): $TOPOACT_CACHE_DIR or platformdirs' cache dir (data/README.md);
# data/cache is where topoact 0.1 cached inside the checkout.
clean-cache:
	$(PY) -c "import shutil; from topoact.cachedir import cache_dir; print('removing', cache_dir()); shutil.rmtree(cache_dir(), ignore_errors=True)"
	rm -rf data/cache
