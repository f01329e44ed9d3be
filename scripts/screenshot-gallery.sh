#!/usr/bin/env bash
# The gallery in the real window under Xvfb: a folder of photos in class folders (made here
# from assets/ with ImageMagick), its screenshot (docs/screenshots/gallery.png), a click on a
# thumbnail (docs/screenshots/gallery-inspector.png), and — given a second folder — the time
# to the first screen of thumbnails, as the app logs it on stderr (BENCHMARKS.md).
#
#   apt-get install xvfb xdotool imagemagick x11-utils
#   scripts/screenshot-gallery.sh [path/to/camscope] [FOLDER_TO_TIME]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-${CARGO_TARGET_DIR:-target}/release/camscope}
timed=${2:-}
out=docs/screenshots
mkdir -p "$out"
command -v convert >/dev/null || { echo "missing convert (apt-get install imagemagick)" >&2; exit 1; }
. scripts/xvfb-app.sh :78

# An ImageFolder: class-index folders (ImageNet: 285 Egyptian cat, 967 espresso, 812 space
# shuttle, 834 suit), each photo also mirrored and cropped; one espresso filed as a cat.
demo=$home/photos
for spec in 285:chelsea.png 967:coffee.png 812:rocket.jpg 834:astronaut.png; do
    class=${spec%%:*} photo=assets/${spec#*:} name=$(basename "${spec#*:}" | cut -d. -f1)
    mkdir -p "$demo/$class"
    convert "$photo" "$demo/$class/${name}_0.jpg"
    convert "$photo" -flop "$demo/$class/${name}_1.jpg"
    convert "$photo" -gravity center -crop 70%x70%+0+0 +repage "$demo/$class/${name}_2.jpg"
done
convert assets/coffee.png -rotate 90 "$demo/285/misfiled_coffee.jpg"

"$bin" view "$demo" 2>"$home/stderr" &
app=$!
window
sleep 12
import -window root "$out/gallery.png"
echo "wrote $out/gallery.png"
# The first thumbnail (the grid starts right of the 300-pixel side panel).
xdotool mousemove 400 160 click 1
sleep 8
import -window root "$out/gallery-inspector.png"
echo "wrote $out/gallery-inspector.png"
kill "$app"; wait "$app" 2>/dev/null || true; app=

if [ -n "$timed" ]; then
    for run in 1 2 3; do
        rm -rf "$home/.config"
        "$bin" view "$timed" 2>"$home/stderr" &
        app=$!
        window
        for _ in $(seq 1 100); do
            grep -q "first screen" "$home/stderr" && break
            sleep 0.1
        done
        echo "run $run: $(grep 'first screen' "$home/stderr" || echo 'no first screen within 10 s')"
        kill "$app"; wait "$app" 2>/dev/null || true; app=
    done
fi
