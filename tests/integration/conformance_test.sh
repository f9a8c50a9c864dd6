#!/usr/bin/env bash
# Runs the cross-host conformance suite (tests/conformance) as part of
# tests/integration/run.sh, so `make test` runs it on every host built.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash tests/conformance/run.sh "${1:-build}"
