#!/bin/sh
# Builds the platform image (Containerfile) with buildah, or docker when CONTAINER_TOOL=docker, and prints its size.
# buildah runs daemonless here (vfs storage, chroot isolation). When BASE_IMAGE is neither stored nor pullable,
# an equivalent base is built from Debian packages (build-base.sh) once and used instead.
# Usage: build.sh [--archive FILE]   (FILE: a docker-archive tar of the image, for `kind load image-archive`)
# Settings (environment): IMAGE, IMAGE_VERSION, BASE_IMAGE, LOCAL_BASE_IMAGE, UV_VERSION, REVISION, SOURCE.
set -eu
cd "$(dirname "$0")/../.."

archive=
if [ "${1:-}" = --archive ]; then
	archive=${2:?--archive needs a file name}
fi

tool=${CONTAINER_TOOL:-buildah}
image=${IMAGE:-luckygas/platform}
version=${IMAGE_VERSION:-$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')}
base=${BASE_IMAGE:-docker.io/library/python:3.11-slim}
local_base=${LOCAL_BASE_IMAGE:-localhost/luckygas/python-base:3.11-bookworm}
uv_version=${UV_VERSION:-$(sed -n 's/^UV_VERSION := //p' Makefile)}
revision=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
source=${SOURCE:-https://github.com/luckygas/platform}
# The build trusts the certificate authorities the host trusts (a secret: no layer keeps it).
ca_bundle=${BUILD_CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
if [ -r "$ca_bundle" ]; then set -- --secret "id=build-ca,src=$ca_bundle"; else set --; fi
set -- "$@" --file Containerfile --tag "$image:$version" \
	--build-arg UV_VERSION="$uv_version" --build-arg VERSION="$version" \
	--build-arg REVISION="$revision" --build-arg SOURCE="$source"

if [ "$tool" = docker ]; then
	docker build "$@" --build-arg BASE_IMAGE="$base" .
	echo "$image:$version: $(docker image inspect --format '{{.Size}}' "$image:$version" | awk '{printf "%.0f MB", $1 / 1e6}')"
	if [ -n "$archive" ]; then
		mkdir -p "$(dirname "$archive")" && docker save --output "$archive" "$image:$version"
		echo "wrote $archive"
	fi
	exit 0
fi

command -v buildah >/dev/null || {
	echo "buildah is not installed: apt-get install buildah debootstrap (make image does as root), or CONTAINER_TOOL=docker" >&2
	exit 2
}
# vfs and chroot work as root anywhere, inside a container too (no overlay mounts, no runtime, no daemon).
storage_driver=${STORAGE_DRIVER:-vfs}
isolation=${BUILDAH_ISOLATION:-chroot}
buildah() { command buildah --storage-driver "$storage_driver" "$@"; }
if buildah inspect --type image "$base" >/dev/null 2>&1 || buildah pull --quiet "$base" >/dev/null 2>&1; then
	echo "base image: $base"
else
	recipe=$(sha256sum tools/image/build-base.sh | cut -d' ' -f1)
	stored_recipe=$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "io.luckygas.base-recipe"}}' \
		"$local_base" 2>/dev/null || true)
	if [ "$stored_recipe" = "$recipe" ]; then
		echo "base image: $local_base ($base cannot be pulled; built from Debian packages earlier)"
	else
		echo "base image: $base cannot be pulled; building $local_base from Debian packages"
		STORAGE_DRIVER=$storage_driver tools/image/build-base.sh "$local_base"
	fi
	base=$local_base
fi

# Without --layers: on vfs every cached step is a full copy of the file system, slower than downloading the
# locked packages again (about a minute here, against three with layers after a change to our code).
previous=$(buildah inspect --type image --format '{{.FromImageID}}' "$image:$version" 2>/dev/null || true)
buildah build --isolation "$isolation" "$@" --build-arg BASE_IMAGE="$base" .
# The image this build replaced would keep its copy on disk once it has no name left.
if [ -n "$previous" ] && buildah images --filter dangling=true --no-trunc --quiet | grep -q "$previous"; then
	buildah rmi "$previous" >/dev/null
fi
echo "$image:$version: $(buildah images --format '{{.Size}}' "$image:$version")"
if [ -n "$archive" ]; then
	mkdir -p "$(dirname "$archive")" && rm -f "$archive"
	# Named without localhost/, as the chart and kind know it.
	buildah push --quiet "$image:$version" "docker-archive:$archive:$image:$version"
	echo "wrote $archive"
fi
