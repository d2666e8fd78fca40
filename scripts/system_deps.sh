#!/usr/bin/env bash
# The Debian packages `make demo` / `make test` need: install the missing ones when run as
# root, otherwise stop with the exact command to run. SKIP_SYSTEM_DEPS=1 skips the check.
#   scripts/system_deps.sh demo|test
set -euo pipefail
target="${1:-test}"
case "$target" in
  demo) packages=(prometheus prometheus-alertmanager) ;;
  test) packages=(prometheus prometheus-alertmanager victoria-metrics nginx-light chromium chromium-driver) ;;
  *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
[ "${SKIP_SYSTEM_DEPS:-0}" = "1" ] && exit 0
if ! command -v dpkg >/dev/null 2>&1; then
  echo "system_deps: not a Debian system; make sure these are installed: ${packages[*]}" >&2
  exit 0
fi
need=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
command="apt-get update && apt-get install -y --no-install-recommends ${need[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "make $target needs these Debian packages: ${need[*]}" >&2
  echo "run:  sudo sh -c '$command'" >&2
  echo "(or SKIP_SYSTEM_DEPS=1 make $target to try without them)" >&2
  exit 1
fi
echo "installing Debian packages for make $target: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts the packaged daemons; the demo and the tests start their own on loopback.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter victoria-metrics nginx; do
  (systemctl stop "$svc" || service "$svc" stop) >/dev/null 2>&1 || true
done
