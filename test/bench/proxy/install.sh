#!/bin/sh
# Installs what `make bench` drives, from Debian, when it is missing: the
# peers (haproxy, nginx, caddy) and the load tools (wrk; h2load from
# nghttp2-client). A package Debian does not have is reported and its
# setup or measurement is skipped by the benchmark; nothing else fails.
set -u
SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
		echo "bench: not root and no sudo; install missing packages by hand" >&2
		exit 0
	fi
fi
missing=""
for pair in haproxy:haproxy nginx:nginx caddy:caddy wrk:wrk h2load:nghttp2-client; do
	cmd=${pair%%:*}
	pkg=${pair#*:}
	command -v "$cmd" >/dev/null 2>&1 || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
echo "bench: installing from Debian:$missing"
$SUDO apt-get update -qq || echo "bench: apt-get update failed" >&2
for pkg in $missing; do
	cand=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
	if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
		echo "bench: Debian has no package $pkg here; it is skipped" >&2
		continue
	fi
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$pkg" >/dev/null ||
		echo "bench: apt-get install $pkg failed; it is skipped" >&2
done
exit 0
