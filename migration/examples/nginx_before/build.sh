#!/usr/bin/env bash
# Builds ngx_http_hello_native_module.so the way nginx builds any dynamic
# module, with the same machinery as nginx-module/build.sh: nginx's configure
# with the distribution's own flags (NGX_CONF_FLAGS from Debian's nginx-dev,
# which include --with-compat, so the module loads into the packaged nginx),
# --add-dynamic-module, then `make modules`.
#
# usage: build.sh NGINX_SRC WORK_DIR MODULE_DIR OUT_SO
set -euo pipefail
ngx_src=$1 work=$2 module_dir=$3 out=$4
name=$(basename "$out" .so)

src=$work/src
stamp=$work/configured.stamp
want="$(cat "$module_dir/config") $(cat "$ngx_src/conf_flags")"

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
