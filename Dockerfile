# Falco (official Debian-based image) + the k8saudit-ovh plugin and the CPython runtime it needs.
#
# The default Falco image (Wolfi) has no Python and no package manager for it; the Debian flavour
# (`falcosecurity/falco:<version>-debian`, debian:12-slim) can take Debian's libpython3.11.
#
# Build (from the repository root, on Debian 12 with python3 = 3.11; once per architecture):
#   python3 -m venv .venv && .venv/bin/pip install .
#   .venv/bin/python -m k8saudit_ovh_release.artifact build --out dist     # dist/k8saudit-ovh-<v>-linux-<uname -m>.tar.gz
#   docker build -t ghcr.io/k8saudit-ovh/falco-k8saudit-ovh:0.44.1-0.7.0 .
#   (multi-arch: put both tarballs in dist/ and `docker buildx build --platform linux/amd64,linux/arm64 ...`)
#
# The plugin lands in /opt/k8saudit-ovh (library_path: /opt/k8saudit-ovh/libk8saudit-ovh.so),
# outside /usr/share/falco/plugins, which the Helm chart hides under falcoctl's emptyDir.
# The install steps are scripts/image-install.sh; tests/test_image_debootstrap.py runs the same
# script in a debootstrap'ed Debian 12 root and drives the plugin there.
ARG FALCO_VERSION=0.44.1
FROM docker.io/falcosecurity/falco:${FALCO_VERSION}-debian

COPY dist/k8saudit-ovh-*-linux-*.tar.gz scripts/image-install.sh /tmp/k8saudit-ovh/
RUN sh /tmp/k8saudit-ovh/image-install.sh /tmp/k8saudit-ovh /opt/k8saudit-ovh \
    && rm -rf /tmp/k8saudit-ovh

LABEL org.opencontainers.image.source="https://github.com/k8saudit-ovh/k8saudit-ovh" \
      org.opencontainers.image.description="Falco with the k8saudit-ovh plugin (OVHcloud MKS audit logs from LDP)" \
      org.opencontainers.image.licenses="Apache-2.0"
