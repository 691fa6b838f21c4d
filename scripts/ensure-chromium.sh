#!/usr/bin/env bash
# The browser tests drive Debian's Chromium with Playwright (Playwright's own browser download
# needs the web). Install it when missing and we may; otherwise say how.
set -euo pipefail
for b in "${CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  [ -n "$b" ] && [ -x "$b" ] && exit 0
done
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "Installing Debian's chromium for the browser tests..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
  exit 0
fi
echo "The browser tests need Chromium: run 'sudo apt-get install chromium' (Debian/Ubuntu)," >&2
echo "or set CHROMIUM=/path/to/chromium." >&2
exit 1
