#!/usr/bin/env bash
# Peers for bench/peers/compare.py, each in its own virtualenv beside this script:
#   .venv-cryodrgn  cryoDRGN 4.3.x on a CPU-only torch
#   .venv-aspire    ASPIRE 0.14.x
# Idempotent: a venv whose package already imports is left alone. Not part of `make test`.
# torch is installed FIRST and pinned to 2.13.0 (a CPU wheel this machine keeps on disk for
# Python 3.11); installing cryodrgn first would let pip pull a multi-GB CUDA build.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PEERS_PYTHON:-python3}"
torch_version="${PEERS_TORCH:-2.13.0}"

make_venv() {  # make_venv DIR
    [ -x "$1/bin/python" ] || "$python" -m venv "$1"
    "$1/bin/python" -m pip install -q --upgrade pip >/dev/null
}

cryodrgn="$here/.venv-cryodrgn"
if ! "$cryodrgn/bin/python" -c 'import cryodrgn, torch' 2>/dev/null; then
    echo "setting up $cryodrgn" >&2
    make_venv "$cryodrgn"
    "$cryodrgn/bin/python" -m pip install -q "torch==$torch_version"
    # The constraint keeps the resolver from replacing the CPU torch.
    "$cryodrgn/bin/python" -m pip install -q "cryodrgn>=4.3,<4.4" "torch==$torch_version"
fi

aspire="$here/.venv-aspire"
# ASPIRE writes a logs/ folder into the working directory on import: keep it in its venv.
mkdir -p "$here/.venv-aspire" && cd "$here/.venv-aspire"
if ! "$aspire/bin/python" -c 'import aspire' 2>/dev/null; then
    echo "setting up $aspire" >&2
    make_venv "$aspire"
    "$aspire/bin/python" -m pip install -q "aspire>=0.14,<0.15"
fi

"$cryodrgn/bin/python" -c 'import cryodrgn, torch; print("cryodrgn", cryodrgn.__version__, "torch", torch.__version__)'
"$aspire/bin/python" -c 'import aspire; print("aspire", aspire.__version__)'
