# Sourced by bench/apache_callgrind.sh and bench/kore_callgrind.sh: one
# measured keep-alive session, and the per-request report built from them.
# The caller sets PORT, DIR, N, CG_NAME (for messages), CG_CTL (the command
# that runs callgrind_control for the measured process: a prefix such as
# setpriv or env, then callgrind_control), CG_PID (that process) and
# CG_DUMPS (a glob matching its dump files).

# cg_session N PATH: instructions of one keep-alive connection with N requests
# (N=0: a connection that sends nothing, the cost of accept and close).
cg_session() {
    local f ir
    "${CG_CTL[@]}" -z "$CG_PID" >/dev/null 2>&1
    if [ "$1" -eq 0 ]; then
        python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.close()' "$PORT"
    else
        ab -q -k -n "$1" -c 1 "http://127.0.0.1:$PORT$2" >"$DIR/ab.out" 2>&1
        grep -q "^Failed requests: *0" "$DIR/ab.out" ||
            { echo "$CG_NAME: ab failed" >&2; cat "$DIR/ab.out" >&2; exit 1; }
    fi
    sleep 0.5
    "${CG_CTL[@]}" -d "$CG_PID" >/dev/null 2>&1
    sleep 1
    # shellcheck disable=SC2086 # CG_DUMPS is a glob
    f=$(ls -t $CG_DUMPS | head -n 1)
    ir=$(sed -n 's/^summary: *//p;s/^totals: *//p' "$f" | head -n 1)
    if [ -n "${KEEP:-}" ] && [ "$1" -ne 0 ]; then cp "$f" "${KEEP}${2//\//_}"; fi
    # shellcheck disable=SC2086
    rm -f $CG_DUMPS
    echo "$ir"
}

# cg_report PATH...: warm each path up, then print its instructions per
# request with an idle connection's cost subtracted.
cg_report() {
    local path base ir
    for path in "$@"; do
        ab -q -k -n 200 -c 1 "http://127.0.0.1:$PORT$path" >/dev/null 2>&1
    done
    base=$(cg_session 0 /)
    for path in "$@"; do
        ir=$(cg_session "$N" "$path")
        printf '%-8s %8d instructions/request\n' "$path" $(((ir - base) / N))
    done
}
