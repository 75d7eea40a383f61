#!/bin/sh
# Builds a Debian bookworm image with Python 3.11 that stands in for python:3.11-slim where no registry can be
# reached: debootstrap from a Debian mirror, updated from bookworm-security, trimmed like the slim images.
# Usage: build-base.sh IMAGE_NAME   (run as root; needs debootstrap and buildah; STORAGE_DRIVER as build.sh's)
set -eu

name=${1:?usage: build-base.sh IMAGE_NAME}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# What python:3.11-slim offers a program: python3 (and `python`), venv/ensurepip, CA certificates; tzdata and
# the rest of Debian's required packages come with the minbase variant.
packages=python3,python3-venv,python-is-python3,ca-certificates
recipe=$(sha256sum "$0" | cut -d' ' -f1)
buildah() { command buildah --storage-driver "${STORAGE_DRIVER:-vfs}" "$@"; }

work=$(mktemp -d "${TMPDIR:-/var/tmp}/luckygas-base.XXXXXX")
root=$work/rootfs
cleanup() {
	if mountpoint -q "$root/proc" 2>/dev/null; then umount "$root/proc"; fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "debootstrap $suite ($packages) from $mirror"
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
	tail -n 40 "$work/debootstrap.log" "$root/debootstrap/debootstrap.log" 2>/dev/null
	exit 1
}

# Security and point-release updates, which the release alone lacks.
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
SOURCES
mount -t proc proc "$root/proc"
chroot "$root" sh -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get upgrade -y -qq && apt-get clean' \
	>"$work/upgrade.log" 2>&1 || {
	tail -n 40 "$work/upgrade.log"
	exit 1
}
umount "$root/proc"

# Trimmed as debian:bookworm-slim is: no package lists, caches, manuals or documentation.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old "$root"/var/log/* \
	"$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/debootstrap
tar --numeric-owner --xattrs -C "$root" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
	-cf "$work/rootfs.tar" .

container=$(buildah from scratch)
buildah add --quiet "$container" "$work/rootfs.tar" / >/dev/null
buildah config \
	--env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--env LANG=C.UTF-8 \
	--cmd '["python3"]' \
	--label org.opencontainers.image.title="python-base" \
	--label org.opencontainers.image.description="Debian $suite with python3 (debootstrap), standing in for python:3.11-slim" \
	--label io.luckygas.base-recipe="$recipe" \
	"$container"
buildah commit --quiet --rm "$container" "$name" >/dev/null
echo "built $name: $(buildah images --format '{{.Size}}' "$name")"
