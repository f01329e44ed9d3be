# Sourced by the screenshot scripts: checks the tools, starts Xvfb on display $1 with a fresh
# HOME (no saved preferences), and defines `window` (waits for the camscope window and puts
# it at 0,0, 1400×900). Cleans up on exit; the caller sets $app to the app's pid.
for tool in Xvfb xdotool import; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install xvfb xdotool imagemagick x11-utils)" >&2; exit 1; }
done
Xvfb "$1" -screen 0 1400x900x24 -nolisten tcp &
xvfb=$!
home=$(mktemp -d)
app=
cleanup() { [ -n "$app" ] && kill "$app" 2>/dev/null; kill "$xvfb" 2>/dev/null || true; rm -rf "$home"; }
trap cleanup EXIT
sleep 1
export DISPLAY=$1 HOME=$home XDG_CONFIG_HOME=$home/.config LIBGL_ALWAYS_SOFTWARE=1

window() {
    local win=
    for _ in $(seq 1 100); do
        win=$(xdotool search --name '^camscope$' 2>/dev/null | head -n1 || true)
        [ -n "$win" ] && break
        sleep 0.2
    done
    [ -n "$win" ] || { echo "no camscope window appeared" >&2; exit 1; }
    xdotool windowmove "$win" 0 0 windowsize "$win" 1400 900
}
