#!/usr/bin/env bash
# Debian packages the tests need: Kamailio is the real SIP core of the
# integration tests, SIPp the benchmark's reference client, baresip a widely
# used SIP phone that the lab core must serve (test/integration/labcore-real-ua).
set -euo pipefail
packages=(kamailio kamailio-presence-modules sip-tester baresip-core chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
