#!/usr/bin/env bash
# Makes sure the system pieces the tests and demos need exist: a Chromium, CJK fonts, adb, and for the
# desktop env an X server (Xvfb), a window manager (openbox), bubblewrap, xdotool/xwd and Tk.
# Prefers the distribution's packages (apt), falls back to Playwright's managed browser elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

have_chromium() {
  [ -n "${PIXELPILOT_CHROMIUM:-}" ] && return 0
  for c in chromium chromium-browser google-chrome google-chrome-stable; do
    command -v "$c" >/dev/null 2>&1 && return 0
  done
  return 1
}

need_apt=()
have_chromium || need_apt+=(chromium)
if command -v fc-list >/dev/null 2>&1; then
  fc-list :lang=ja 2>/dev/null | grep -q . || need_apt+=(fonts-noto-cjk)
else
  need_apt+=(fonts-noto-cjk fontconfig)
fi

command -v adb >/dev/null 2>&1 || need_apt+=(adb)

# the desktop env: its own display, window manager and sandbox; x11-apps has xwd (capture benchmark),
# python3-tk the Tk the project's test app needs when Python itself was built without it
command -v Xvfb >/dev/null 2>&1 || need_apt+=(xvfb)
command -v openbox >/dev/null 2>&1 || need_apt+=(openbox)
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)
command -v xdotool >/dev/null 2>&1 || need_apt+=(xdotool)
command -v xwd >/dev/null 2>&1 || need_apt+=(x11-apps)
command -v xprop >/dev/null 2>&1 || need_apt+=(x11-utils)
if [ -x .venv/bin/python ] && ! .venv/bin/python -c "import tkinter" >/dev/null 2>&1; then
  need_apt+=(python3-tk tk)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "installing ${need_apt[*]} with apt-get" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    if ! have_chromium; then
      echo "no apt-get: installing Playwright's managed Chromium" >&2
      .venv/bin/playwright install chromium
    fi
    if ! command -v adb >/dev/null 2>&1; then
      # adbutils ships an adb binary for this case
      adb_bin=$(.venv/bin/python -c "import adbutils; print(adbutils.adb_path())" 2>/dev/null || true)
      [ -n "$adb_bin" ] && ln -sf "$adb_bin" .venv/bin/adb && echo "using adbutils' adb: $adb_bin" >&2
    fi
  fi
fi
