#!/usr/bin/env bash
# Builds the release binary and the Debian package, then prints where they are and how big.
# Only the .deb: tauri.conf.json's bundle targets are ["deb"] because an AppImage build
# downloads a tool from GitHub, which these machines cannot reach.
set -euo pipefail

cd "$(dirname "$0")/.."

# The config's beforeBuildCommand (npm run ui:build) builds the UI that gets embedded.
npx tauri build --bundles deb

binary=target/release/baton-desktop
debs=(target/release/bundle/deb/*.deb)
if [[ ! -x "$binary" || ! -f "${debs[0]}" ]]; then
  echo "package: expected $binary and a .deb in target/release/bundle/deb/" >&2
  exit 1
fi

size() {
  # Bytes and a human-readable size, e.g. "3145728 bytes (3.0M)".
  printf '%s bytes (%s)' "$(stat -c %s "$1")" "$(du -h --apparent-size "$1" | cut -f1)"
}

echo
echo "package: release binary  $binary  $(size "$binary")"
for deb in "${debs[@]}"; do
  echo "package: debian package  $deb  $(size "$deb")"
done
