#!/bin/sh
# Installs the k8saudit-ovh plugin artifact and the CPython runtime it needs into a Debian 12
# based root: the official Falco image `falcosecurity/falco:<version>-debian` (see Dockerfile).
# tests/test_image_debootstrap.py runs this same script in a debootstrap'ed Debian 12 root.
#
#   image-install.sh SRC_DIR [DEST_DIR]
#
# SRC_DIR holds k8saudit-ovh-<version>-linux-<uname -m>.tar.gz (one per architecture; the one
# for this machine is used). DEST_DIR (default /opt/k8saudit-ovh) receives the artifact's files:
# libk8saudit-ovh.so, k8saudit-ovh.runtime and k8saudit-ovh-runtime/. It is not
# /usr/share/falco/plugins because the Falco Helm chart mounts falcoctl's emptyDir there.
set -eu

SRC=${1:?usage: image-install.sh SRC_DIR [DEST_DIR]}
DEST=${2:-/opt/k8saudit-ovh}
arch=$(uname -m)

set -- "$SRC"/k8saudit-ovh-*-linux-"$arch".tar.gz
if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
    echo "image-install.sh: expected exactly one k8saudit-ovh-*-linux-$arch.tar.gz in $SRC" >&2
    exit 1
fi
tarball=$1

mkdir -p "$DEST"
tar -xzf "$tarball" -C "$DEST" --no-same-owner --no-same-permissions
chmod -R u=rwX,go=rX "$DEST"

# The CPython shared library the artifact was built for, e.g. libpython=/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0
libpython=$(sed -n 's/^libpython=//p' "$DEST/k8saudit-ovh.runtime" | head -n 1)
pyver=$(basename "$libpython" | sed -n 's/^libpython\([0-9]*\.[0-9]*\)\.so.*/\1/p')
if [ -z "$pyver" ]; then
    echo "image-install.sh: cannot tell the CPython version from libpython=$libpython" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# libpython3.X pulls its standard library (libpython3.X-stdlib); ca-certificates for wss://.
apt-get install -y -qq --no-install-recommends "libpython$pyver" ca-certificates >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/*

if [ ! -f "$libpython" ]; then
    echo "image-install.sh: $libpython is missing after installing libpython$pyver" >&2
    exit 1
fi
echo "k8saudit-ovh installed in $DEST (CPython $pyver: $libpython)"
