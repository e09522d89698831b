#!/usr/bin/env bash
# Installs what Stardust's demo and tests need on a fresh Debian machine.
# Idempotent: it installs only what is missing. Run as root (or with sudo).
set -euo pipefail

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }

# The hypervisor (issue: boot).
have qemu-system-x86_64 || need_pkgs+=(qemu-system-x86)
# ext4 host tools used by volumes and their tests (issue: storage).
have mke2fs || need_pkgs+=(e2fsprogs)
have curl || need_pkgs+=(curl)
have bc || need_pkgs+=(bc)

if [ ${#need_pkgs[@]} -gt 0 ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if ! have go; then
	echo "setup: Go 1.26 is needed (https://go.dev/dl/); it is not installed" >&2
	exit 1
fi

# WebAssembly browser target (issue 6): the end-to-end test in wasm/browser
# drives Debian's headless chromium over --remote-debugging-pipe with a small
# Go client, so neither node nor playwright is needed.
if ! have chromium; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
