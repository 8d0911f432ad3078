#!/usr/bin/env bash
# Makes sure the system pieces the tests and demos need exist: a Chromium and CJK fonts.
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

if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "installing ${need_apt[*]} with apt-get" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  elif ! have_chromium; then
    echo "no apt-get: installing Playwright's managed Chromium" >&2
    .venv/bin/playwright install chromium
  fi
fi
