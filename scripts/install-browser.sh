#!/usr/bin/env bash
# Chromium and its driver for the browser test, from Debian (Playwright's download does not work here).
# Installs only when missing and when this user may run apt-get; otherwise the browser test is skipped
# with a message saying so.
set -uo pipefail
cd "$(dirname "$0")/.."

# axe-core, the accessibility checker the browser test runs in the page: a test-only file from the
# npm registry, kept under var/ (never served by the product).
AXE_VERSION=4.11.0
AXE=var/test-static/axe-$AXE_VERSION.min.js
if [ ! -s "$AXE" ]; then
  if command -v npm >/dev/null; then
    tmp=$(mktemp -d)
    if (cd "$tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null 2>&1 && tar -xzf "axe-core-$AXE_VERSION.tgz"); then
      mkdir -p "$(dirname "$AXE")" && cp "$tmp/package/axe.min.js" "$AXE"
    else
      echo "Could not fetch axe-core $AXE_VERSION with npm; the accessibility checks will be skipped."
    fi
    rm -rf "$tmp"
  else
    echo "npm missing: the accessibility checks of the browser test will be skipped."
  fi
fi

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
