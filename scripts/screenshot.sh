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
for tool in Xvfb xdotool import xwininfo; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install xvfb xdotool imagemagick x11-utils)" >&2; exit 1; }
done
display=:77
Xvfb "$display" -screen 0 1400x900x24 -nolisten tcp &
xvfb=$!
home=$(mktemp -d)
cleanup() { kill "$app" 2>/dev/null || true; kill "$xvfb" 2>/dev/null || true; rm -rf "$home"; }
trap cleanup EXIT
sleep 1
export DISPLAY=$display HOME=$home XDG_CONFIG_HOME=$home/.config LIBGL_ALWAYS_SOFTWARE=1
"$bin" &
app=$!

# Wait for the window, then for the first explanation (the status line stops saying Working).
for _ in $(seq 1 100); do
    win=$(xdotool search --name '^camscope$' 2>/dev/null | head -n1 || true)
    [ -n "$win" ] && break
    sleep 0.2
done
[ -n "${win:-}" ] || { echo "no camscope window appeared" >&2; exit 1; }
xdotool windowmove "$win" 0 0 windowsize "$win" 1400 900
sleep 8
import -window root "$out/main.png"
echo "wrote $out/main.png"

# Compare view: click "Compare methods side by side" in the side panel (its place in the
# 1400×900 window; Xvfb has no window manager to give keyboard focus for Ctrl+Shift+C).
xdotool mousemove 80 209 click 1
sleep 12
import -window root "$out/compare.png"
echo "wrote $out/compare.png"
