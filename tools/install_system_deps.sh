#!/usr/bin/env bash
# Install the Debian packages the test suite needs:
#   chromium   - headless browser for tests/test_book_browser.py
#   bubblewrap - the sandbox that autograding runs student code in
#   postgresql - a throwaway server for the shared-gradebook tests (tests/servers.py)
#   nodejs npm - only if npm is missing: it installs axe-core for the accessibility audit
# Installs only what is missing; needs root (or sudo) when something is.
set -euo pipefail
packages=(chromium bubblewrap postgresql)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# npm installs axe-core (package-lock.json) for the accessibility audit; any Node.js >= 18 will do.
command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]} == 0)); then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install_system_deps: apt-get not found; please install: ${missing[*]}" >&2
  exit 1
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install_system_deps: need root to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install_system_deps: installing ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
