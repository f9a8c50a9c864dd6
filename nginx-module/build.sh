#!/usr/bin/env bash
# Builds a dynamic nginx module against Debian's nginx-dev sources, the way
# nginx builds dynamic modules: configure with the distribution's own flags
# (NGX_CONF_FLAGS, which include --with-compat, so the module loads into the
# packaged binary) and `make modules`. Used for ngx_http_forge_module and for
# the native modules of the migration examples.
#
# usage: build.sh NGINX_SRC WORK_DIR MODULE_DIR OUT_SO [FORGE_INCLUDE_DIR FORGE_LIB_DIR]
# The module's name is OUT_SO's base name; the Forge paths are for modules
# that link libforge-core (read by the module's `config` file).
set -euo pipefail
ngx_src=$1 work=$2 module_dir=$3 out=$4 inc=${5:-} lib=${6:-}
name=$(basename "$out" .so)

export FORGE_INCLUDE_DIR=$inc FORGE_LIB_DIR=$lib
# The module and libforge-core.so sit side by side in build/lib (and in an
# install's lib dir): the module finds the core through $ORIGIN. ld takes the
# run path from LD_RUN_PATH when no -rpath is given, which keeps the literal
# $ORIGIN clear of make's and the shell's quoting.
export LD_RUN_PATH='$ORIGIN'

src=$work/src
stamp=$work/configured.stamp
want="$(cat "$module_dir/config") $inc $lib $(cat "$ngx_src/conf_flags")"

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    rm -rf "$work"
    mkdir -p "$work"
    cp -a "$ngx_src" "$src"
    (
        cd "$src"
        # shellcheck disable=SC1091
        . ./conf_flags
        cflags="$(dpkg-buildflags --get CFLAGS 2>/dev/null || echo -O2) -fPIC"
        cflags="$cflags $(dpkg-buildflags --get CPPFLAGS 2>/dev/null || true)"
        ldflags="$(dpkg-buildflags --get LDFLAGS 2>/dev/null || true) -fPIC"
        ./configure --with-cc-opt="$cflags" --with-ld-opt="$ldflags" \
            "${NGX_CONF_FLAGS[@]}" --add-dynamic-module="$module_dir" \
            --builddir="$work/objs" >"$work/configure.log" 2>&1 ||
            { tail -n 30 "$work/configure.log"; exit 1; }
    )
    printf '%s' "$want" >"$stamp"
fi

# Not a sub-make of the caller: its jobserver is not ours.
unset MAKEFLAGS MFLAGS MAKELEVEL
(cd "$src" && make -s -f "$work/objs/Makefile" modules)
cp "$work/objs/$name.so" "$out.tmp"
mv "$out.tmp" "$out"
