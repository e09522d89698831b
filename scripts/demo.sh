#!/usr/bin/env bash
# The main demo: build an ordinary Go web server (examples/httpd) into a
# Stardust image, boot it under QEMU and reach it from the host.
# Run from a clone of the repository after scripts/setup-debian.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-8080}
mkdir -p out
go build -o out/stardust ./cmd/stardust

echo "== stardust build -o out/httpd.img ./examples/httpd"
out/stardust build -o out/httpd.img ./examples/httpd
ls -l out/httpd.img

echo "== stardust run -p $PORT:8080 out/httpd.img   (in the background)"
start=$(date +%s.%N)
out/stardust run -timeout 5m -p "$PORT:8080" out/httpd.img &
vm=$!
trap 'kill $vm 2>/dev/null || true' EXIT

for _ in $(seq 1 300); do
	if body=$(curl -fsS -m 0.3 "http://127.0.0.1:$PORT/" 2>/dev/null); then
		break
	fi
	sleep 0.02
done
end=$(date +%s.%N)
echo "== curl http://127.0.0.1:$PORT/"
echo "$body"
printf 'first response %.2f s after starting QEMU\n' "$(echo "$end - $start" | bc)"
echo "== curl -d 'hello, unikernel' http://127.0.0.1:$PORT/echo"
curl -fsS -m 5 -d 'hello, unikernel' "http://127.0.0.1:$PORT/echo"; echo
echo "== curl http://127.0.0.1:$PORT/quit   (the program exits; so does the VM)"
curl -fsS -m 5 "http://127.0.0.1:$PORT/quit" || true
wait $vm && echo "VM exited with status 0"
trap - EXIT
