#!/usr/bin/env bash
# The engine and the headless CLI must not depend on any UI crate (house style; rerun does the
# same for its CLI). Fails if the no-default-features dependency tree names one.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(egui|eframe|egui_kittest|egui-wgpu|egui_glow|winit|wgpu|glow|rfd)$'
found=$(cargo tree --no-default-features -e normal --prefix none --format '{p}' \
    | awk '{print $1}' | sort -u | grep -E "$forbidden" || true)
if [ -n "$found" ]; then
    echo "the headless build depends on UI crates: $found" >&2
    exit 1
fi
# And the engine's source never names them.
if grep -rnE '\b(egui|eframe|winit)::' src/engine; then
    echo "src/engine must not use UI crates" >&2
    exit 1
fi
echo "engine and CLI are free of UI dependencies"
# No two engine modules import each other, directly or around a loop.
python3 scripts/check_engine_cycles.py
# Files stay small (house style): none over 500 lines but generated tables.
long=$(find src -name '*.rs' ! -name colormap_tables.rs -print0 | xargs -0 wc -l | awk '$2 != "total" && $1 > 500 {print $2 " (" $1 " lines)"}')
if [ -n "$long" ]; then
    echo "source files over 500 lines: $long" >&2
    exit 1
fi
