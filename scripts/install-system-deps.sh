#!/usr/bin/env bash
# System packages needed to build and test k8saudit-ovh on Debian 12 / Ubuntu (idempotent).
set -euo pipefail
pkgs=(build-essential cmake ninja-build python3 python3-dev python3-venv libpython3-dev libpython3.11 valgrind docker-registry debootstrap patchelf strace)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing system packages: ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
