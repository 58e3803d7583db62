#!/usr/bin/env bash
# Set up (or reuse) the course environment in .venv: torch first, pinned, then the package
# with its notebook and test extras, then Chromium for the browser test where it is missing.
# Safe to run again: an existing .venv is reused and pip skips what is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "facenet-edu needs Python 3.11 or newer ($PY is $("$PY" --version))" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch first and pinned: unpinned, pip would pull several GB of CUDA packages.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e ".[notebooks,test]"
# The browser test drives Debian's Chromium (no browser download). Install it where we can.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: could not install chromium; the browser test will be skipped" >&2
  else
    echo "setup: chromium not found and cannot be installed here; the browser test will be skipped" >&2
  fi
fi
echo "setup: environment ready in .venv"
