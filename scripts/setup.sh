#!/usr/bin/env bash
# Installs what building and testing Baton needs on a fresh Debian 12 machine (run as root):
# the WebKitGTK stack Tauri links against, Xvfb for running the app without a display, Chromium
# for the UI tests, and the npm dev dependencies. Safe to run repeatedly: each step is skipped
# when already done.
set -euo pipefail

cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive

SYSTEM_PACKAGES=(
  build-essential
  pkg-config
  libwebkit2gtk-4.1-dev
  libayatana-appindicator3-dev
  librsvg2-dev
  libssl-dev
  # The keyring crate's Secret Service backend links libdbus (OS keychain for API keys).
  libdbus-1-dev
  xvfb
  xauth
  webkit2gtk-driver
  # UI tests (ui/tests/): the built UI in headless Chromium.
  chromium
  # Desktop end-to-end tests (scripts/e2e.sh): the tray and notifications need a session
  # bus; python3-xlib (for /usr/bin/python3) sends the window a real close request;
  # python3-dbus and python3-gi run the stand-in notification server (e2e/notifications.py).
  # The runner's tests (crates/tray) start a private bus and drive its tray with gdbus.
  dbus
  dbus-x11
  dbus-daemon
  libglib2.0-bin
  python3-xlib
  python3-dbus
  python3-gi
  # The API fuzz run (scripts/api-fuzz.sh) installs schemathesis into a venv under .tools/.
  python3-venv
  # The shared queue's backend: tests start a private cluster (scripts/pg.sh).
  postgresql
  # Package checks (scripts/package.sh): rpm reads the .rpm's metadata, desktop-file-validate
  # checks the desktop entry both packages install.
  rpm
  desktop-file-utils
  # The update test (scripts/update-test.sh): the updater installs a .deb through sudo.
  sudo
  # actionlint (scripts/lint-workflows.sh) checks the workflow's run: scripts with it.
  shellcheck
)

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  # `dpkg -s` also succeeds for removed-but-not-purged packages, so check the status line.
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "setup: installing system packages: ${missing[*]}"
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "setup: system packages already installed"
fi

# `npm ci` wipes node_modules, so only run it when the lock file changed since the last install.
# npm writes node_modules/.package-lock.json on every install; it is the marker.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
else
  echo "setup: npm dependencies up to date"
fi

# tauri-driver bridges WebDriver clients to WebKitWebDriver for the e2e tests; kept in the
# gitignored .tools/ so it never touches the user's cargo bin directory.
if [[ ! -x .tools/bin/tauri-driver ]]; then
  echo "setup: installing tauri-driver into .tools/"
  cargo install tauri-driver --version '^2' --locked --root .tools
else
  echo "setup: tauri-driver already installed"
fi
