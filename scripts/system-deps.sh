#!/usr/bin/env bash
# Installs the system packages the PDF export and the browser tests need (Debian):
# chromium and fonts-noto-cjk. Only when root and only when missing.
set -euo pipefail
need=()
dpkg -s chromium >/dev/null 2>&1 && [ -x /usr/bin/chromium ] || need+=(chromium)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need+=(fonts-noto-cjk)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "system-deps: not root; please install: ${need[*]} (browser tests will report the missing browser)" >&2
  exit 0
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" > /dev/null
