#!/usr/bin/env bash
# Builds the BrowserGym peer for benchmarks/miniwob_throughput.py in its own venv (it pins Playwright 1.44,
# which must not meet pixelpilot's). Playwright 1.44 looks for Chromium revision 1117 under
# PLAYWRIGHT_BROWSERS_PATH; downloads are impossible here, so that path is a symlink to the system Chromium.
#   bash benchmarks/peers/setup_browsergym.sh [python]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${1:-python3}"
venv="$here/browsergym-venv"
browsers="$here/pw-browsers"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check "browsergym-miniwob==0.14.3" "browsergym-core==0.14.3" miniwob==1.1.0
chromium="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$chromium" ]; then
  echo "no system chromium on PATH" >&2
  exit 1
fi
mkdir -p "$browsers/chromium-1117/chrome-linux"
ln -sf "$(readlink -f "$chromium")" "$browsers/chromium-1117/chrome-linux/chrome"
touch "$browsers/chromium-1117/INSTALLATION_COMPLETE"
"$venv/bin/python" - <<'PY'
from importlib.metadata import version
print({p: version(p) for p in ("browsergym-core", "browsergym-miniwob", "playwright", "gymnasium", "miniwob")})
PY
