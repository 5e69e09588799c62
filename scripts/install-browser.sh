#!/usr/bin/env bash
# Chromium and its driver for the browser test, from Debian (Playwright's download does not work here).
# Installs only when missing and when this user may run apt-get; otherwise the browser test is skipped
# with a message saying so.
set -uo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "Installing Debian's chromium and chromium-driver for the browser test…"
  apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } \
    || echo "Could not install chromium; the browser test will be skipped."
else
  echo "chromium/chromedriver missing and apt-get unavailable; the browser test will be skipped."
fi
exit 0
