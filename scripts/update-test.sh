#!/usr/bin/env bash
# The in-app update, for real (issue 17): builds Baton twice as .deb packages, the current
# version and the next minor one, both trusting a throwaway public key; signs the newer one with
# that key (as a release is signed) and again with another key (the bad signature); installs the
# older package with dpkg; then e2e/update.mjs drives the installed app against a local feed
# under tauri-driver on a virtual display.
#
# It installs and removes the `baton` package on this machine, so it refuses to run where that
# package is already installed. It leaves target/debug/baton-desktop built as the newer version
# with the throwaway key: CI runs it last. About 3 minutes with a warm target/.
set -euo pipefail

cd "$(dirname "$0")/.."

fail() {
  echo "update-test: $*" >&2
  exit 1
}

if dpkg-query -W -f='${Status}' baton 2>/dev/null | grep -q 'install ok installed'; then
  fail "the baton package is installed here; this test installs and removes it, so it stops"
fi
# The updater installs a .deb through pkexec, a graphical sudo or sudo (scripts/setup.sh
# installs sudo; as root it asks no password).
command -v sudo >/dev/null || fail "sudo is missing; run scripts/setup.sh first"
[[ -x .tools/bin/tauri-driver ]] || fail ".tools/bin/tauri-driver is missing; run scripts/setup.sh first"

work=$(mktemp -d)
cleanup() {
  if dpkg-query -W -f='${Status}' baton 2>/dev/null | grep -q 'install ok installed'; then
    dpkg --purge baton >/dev/null || echo "update-test: could not remove the baton package" >&2
  fi
  if [[ -n "${BATON_UPDATE_KEEP:-}" ]]; then echo "update-test: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

current=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
next=$(awk -F. '{ printf "%d.%d.0", $1, $2 + 1 }' <<<"$current")

# Throwaway keys: the release key's private half never leaves this temporary directory.
npx tauri signer generate --ci -p "" -w "$work/release.key" >/dev/null
npx tauri signer generate --ci -p "" -w "$work/other.key" >/dev/null

npm run ui:build
build() { # VERSION: a .deb of that version trusting the throwaway key, with its signature
  local version=$1
  cat >"$work/$version.json" <<JSON
{
  "version": "$version",
  "build": { "beforeBuildCommand": null },
  "bundle": { "createUpdaterArtifacts": true },
  "plugins": { "updater": { "pubkey": "$(cat "$work/release.key.pub")", "dangerousInsecureTransportProtocol": true } }
}
JSON
  bash scripts/runner.sh debug
  TAURI_SIGNING_PRIVATE_KEY="$work/release.key" TAURI_SIGNING_PRIVATE_KEY_PASSWORD="" \
    npx tauri build --debug --bundles deb --config "$work/$version.json"
  grep -qF "$(cat "$work/release.key.pub")" target/debug/baton-desktop ||
    fail "the build of Baton $version does not carry the test's public key"
  cp "target/debug/bundle/deb/Baton_${version}_amd64.deb" "target/debug/bundle/deb/Baton_${version}_amd64.deb.sig" "$work/"
}
build "$current"
build "$next"

# Minisign key ids (bytes 2..10 of the key or signature line, inside Tauri's base64 of the
# minisign file): the builds must have signed with the throwaway key, or the test below would
# test nothing.
key_id() { base64 -d "$1" | sed -n 2p | base64 -d | head -c 10 | tail -c 8 | od -An -tx1 | tr -d ' \n'; }
release_id=$(key_id "$work/release.key.pub")
for version in "$current" "$next"; do
  [[ $(key_id "$work/Baton_${version}_amd64.deb.sig") == "$release_id" ]] ||
    fail "Baton $version's package was not signed with the test's release key"
done

# The same newer package signed with a key the app does not trust.
cp "$work/Baton_${next}_amd64.deb" "$work/other-key.deb"
npx tauri signer sign -f "$work/other.key" -p "" "$work/other-key.deb" >/dev/null

dpkg -i "$work/Baton_${current}_amd64.deb"
[[ $(dpkg-query -W -f='${Version}' baton) == "$current" ]] || fail "dpkg did not install Baton $current"

# One app at a time on its own session bus, as in scripts/e2e.sh.
BATON_UPDATE_WORK=$work BATON_UPDATE_FROM=$current BATON_UPDATE_TO=$next \
  xvfb-run -a -s '-screen 0 1280x800x24' \
  dbus-run-session -- node --test --test-concurrency=1 --test-reporter=spec e2e/update.mjs
