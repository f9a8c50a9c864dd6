#!/usr/bin/env bash
# Installs every Debian package Forge builds, tests and benchmarks with.
# Non-interactive and idempotent; packages are kept from starting system services.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  libjansson-dev libyaml-dev libuv1-dev libssl-dev libcmocka-dev libsqlite3-dev
  nginx nginx-dev apache2 apache2-dev kore
  wrk curl openssl python3 valgrind
  libcurl4-openssl-dev  # observability (OTLP), security (JWKS, OAuth2)
  prometheus            # observability tests: promtool and a real scraper
  libargon2-dev         # security: password hashing
  postgresql libpq-dev redis-server libhiredis-dev mariadb-server libmariadb-dev  # data
  libmongoc-dev libbson-dev  # data: the Mongo driver (adapters/mongo)
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# Refuse service starts during install so no system nginx grabs port 80.
if [ ! -f /usr/sbin/policy-rc.d ] || ! grep -q 'exit 101' /usr/sbin/policy-rc.d; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
fi

export DEBIAN_FRONTEND=noninteractive
echo "deps: installing ${missing[*]}"
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
