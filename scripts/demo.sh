#!/usr/bin/env bash
# The main demo: build an ordinary Go program into a Stardust image and boot
# it under QEMU. Run from the repository root after scripts/setup-debian.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
go build -o out/stardust ./cmd/stardust
echo "== stardust build -o out/hello.img ./examples/hello"
out/stardust build -o out/hello.img ./examples/hello
ls -l out/hello.img
echo "== stardust run out/hello.img -- from a unikernel"
time out/stardust run out/hello.img -- from a unikernel
