#!/usr/bin/env bash
# Renders a report folder's index.html in headless Chromium (Debian's
# `chromium` package: apt-get install chromium) and saves a full-page
# screenshot, so a person can look at the page as a browser shows it.
# Usage: scripts/screenshot.sh DIR [OUT.png] [WIDTHxHEIGHT]
set -euo pipefail
dir=${1:?usage: scripts/screenshot.sh DIR [OUT.png] [WIDTHxHEIGHT]}
out=${2:-$dir/screenshot.png}
size=${3:-1280x2400}
page="$(cd "$dir" && pwd)/index.html"
[ -f "$page" ] || { echo "no index.html in $dir" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "no Chromium found: apt-get install chromium" >&2; exit 2; }
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size="${size/x/,}" --screenshot="$out" "file://$page" >/dev/null 2>&1
echo "wrote $out"
