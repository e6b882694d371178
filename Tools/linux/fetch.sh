#!/usr/bin/env bash
# make linux's download step: Debian 12's i386 kernel for older PCs (linux-image-6.1.0-*-686-
# unsigned: no PAE, x87 and CMOV, no SSE needed) and busybox-static:i386, fetched with
# `apt-get download` into DIR (default .build/linux, never committed), unpacked, and the
# initramfs built from busybox and Tools/linux/init.sh. A second call with the files there
# downloads nothing. Needs root (or sudo) the first time, to add the i386 architecture to apt.
set -euo pipefail
dir=${1:-.build/linux}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi

if [ ! -f "$dir/vmlinuz" ] || [ ! -f "$dir/busybox" ] || [ ! -f "$dir/kernel-version.txt" ]; then
    if ! dpkg --print-foreign-architectures | grep -qx i386; then
        echo "make linux: adding the i386 architecture to apt (for busybox-static:i386)"
        $SUDO dpkg --add-architecture i386
        $SUDO apt-get update -q
    fi
    find_kernel() {
        apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-686-unsigned$' | awk '{ print $1 }' | sort -V | tail -n 1
    }
    pkg=$(find_kernel)
    if [ -z "$pkg" ] || ! apt-cache show busybox-static:i386 >/dev/null 2>&1; then
        $SUDO apt-get update -q
        pkg=$(find_kernel)
    fi
    [ -n "$pkg" ] || { echo "make linux: no linux-image-6.1.0-*-686-unsigned package in apt's lists" >&2; exit 1; }
    echo "make linux: downloading $pkg and busybox-static:i386 into $dir"
    rm -rf "$dir/debs" "$dir/root"
    mkdir -p "$dir/debs"
    # apt's sandbox user cannot write here: it falls back to root and warns, harmlessly.
    (cd "$dir/debs" && apt-get download -q "$pkg" busybox-static:i386 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
    ls "$dir"/debs/linux-image-*.deb "$dir"/debs/busybox-static_*.deb >/dev/null
    for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
    cp "$dir"/root/boot/vmlinuz-* "$dir/vmlinuz"
    cp "$dir/root/bin/busybox" "$dir/busybox"
    basename "$dir"/root/boot/vmlinuz-* | sed 's/^vmlinuz-//' > "$dir/kernel-version.txt"
    rm -rf "$dir/root" "$dir/debs"
fi
# Rebuilt every time (cheap, deterministic): init.sh may have changed.
python3 "$here/mkinitramfs.py" "$dir/busybox" "$here/init.sh" "$dir/initrd.gz"
echo "make linux: kernel $(cat "$dir/kernel-version.txt"), initramfs $(stat -c %s "$dir/initrd.gz") bytes in $dir"
