# One-command setup, demo and tests. Works on a fresh machine with Python >= 3.10.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH_PIN := torch==2.13.0
# Elsewhere, point at PyTorch's CPU wheel index: make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

.PHONY: demo test lint-imports setup setup-torchrec clean protos

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the CPU build (an unpinned torch pulls GBs of CUDA wheels);
# then the package, its dev tools and the export and serve extras (their tests run in `make test`),
# which find torch already satisfied.
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet $(TORCH_PIN) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -e ".[dev,export,serve]"
	touch $(STAMP)

setup: $(STAMP)

# Opt-in: TorchRec + FBGEMM (CPU) for train.embedding_backend fbgemm / torchrec. Pinned, and each
# package installed with --no-deps (torchrec's metadata would pull the CUDA fbgemm-gpu wheel built
# for another torch); needs the core's $(TORCH_PIN). See README "Optional: TorchRec and FBGEMM".
TORCHREC_PINS := requirements/torchrec.txt
setup-torchrec: $(STAMP)
	$(PY) -c "import torch, sys; v = torch.__version__.split('+')[0]; sys.exit(0 if v == '$(TORCH_PIN)'.split('==')[1] else f'setup-torchrec: needs $(TORCH_PIN), found torch {v}')"
	$(PY) -m pip install --quiet --no-deps -r $(TORCHREC_PINS)
	$(PY) -c "import torchrec, fbgemm_gpu; print('torchrec', torchrec.__version__, '+ fbgemm_gpu', fbgemm_gpu.__version__, 'installed')"

demo: $(STAMP)
	$(VENV)/bin/recblocks train --demo --output runs/demo --overwrite

lint-imports: $(STAMP)
	$(VENV)/bin/lint-imports

# EasyRec's message schema: compile src/recblocks/easyrec/protos/*.proto into the committed
# descriptor set (protoc from grpcio-tools, a dev dependency); a test fails while it is stale.
protos: $(STAMP)
	$(PY) -m recblocks.easyrec.compile

test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
