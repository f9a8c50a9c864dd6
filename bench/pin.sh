# Sourced by the host benches: where the server and the load generator run.
# With two CPUs or more, the server (and the workers it forks) runs on CPU 0
# and wrk on CPU 1, for the native page and Forge's alike; without pinning
# the scheduler now and then puts wrk on the worker's CPU, and the pairs of a
# run spread by +-10% on this 2-CPU machine instead of +-2%. PIN=0 turns it off.
# Sets SERVER_CPU and LOAD_CPU (command prefixes, empty when not pinning)
# and PIN_NOTE (for the bench's header line).
SERVER_CPU=() LOAD_CPU=() PIN_NOTE=
if [ "${PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
  SERVER_CPU=(taskset -c 0)
  LOAD_CPU=(taskset -c 1)
  PIN_NOTE=" (server on CPU 0, wrk on CPU 1)"
fi
