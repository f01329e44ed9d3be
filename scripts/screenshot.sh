#!/usr/bin/env bash
# Runs the real camscope window under Xvfb, drives it with xdotool and saves screenshots
# (docs/screenshots/*.png), as README shows them.
#
#   apt-get install xvfb xdotool imagemagick x11-utils
#   scripts/screenshot.sh [path/to/camscope]
#
# The app starts on the built-in model and sample photo. With a fresh HOME it has no saved
# preferences, so what it shows is the first-run view.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-${CARGO_TARGET_DIR:-target}/release/camscope}
out=docs/screenshots
mkdir -p "$out"
. scripts/xvfb-app.sh :77
"$bin" &
app=$!
window
sleep 8
import -window root "$out/main.png"
echo "wrote $out/main.png"

# Compare view: click "Compare methods side by side" in the side panel (its place in the
# 1400×900 window; Xvfb has no window manager to give keyboard focus for Ctrl+Shift+C).
xdotool mousemove 80 209 click 1
sleep 12
import -window root "$out/compare.png"
echo "wrote $out/compare.png"
