# cook: SHARED_PRESCRIPT — the shell functions both source scripts and build
# scripts may call (spec/cookbook.md §5.6): DYNAMIC_INIT, DYNAMIC_STATIC_INIT,
# autotools_recursive_regenerate and GNU_CONFIG_GET. In a source script the
# build-only variables (COOKBOOK_SYSROOT, ...) are unset, as upstream.

# Switch the template flag arrays and the linker flags to dynamic linking.
# Targets without a dynamic loader keep static linking.
function DYNAMIC_INIT {
    case "${TARGET}" in
        i586-unknown-redox | riscv64gc-unknown-redox)
            if [ -n "${COOKBOOK_VERBOSE}" ]
            then
                echo "WARN: ${TARGET} does not support dynamic linking." >&2
            fi
            return
            ;;
    esac

    COOKBOOK_CONFIGURE_FLAGS=(
        --host="${GNU_TARGET}"
        --prefix="/usr"
        --enable-shared
        --disable-static
    )
    COOKBOOK_CMAKE_FLAGS=(
        -DBUILD_SHARED_LIBS=True
        -DENABLE_SHARED=True
        -DENABLE_STATIC=False
    )
    COOKBOOK_MESON_FLAGS=(
        --buildtype release
        --wrap-mode nofallback
        -Ddefault_library=shared
        -Dprefix=/usr
    )
    export LDFLAGS="${USER_LDFLAGS}-Wl,-rpath-link,${COOKBOOK_SYSROOT}/lib -L${COOKBOOK_SYSROOT}/lib -Wl,--export-dynamic"
    export RUSTFLAGS="-C target-feature=-crt-static -L native=${COOKBOOK_SYSROOT}/lib -C link-arg=-Wl,-rpath-link,${COOKBOOK_SYSROOT}/lib"
    export COOKBOOK_DYNAMIC=1
    if declare -F reexport_flags >/dev/null
    then
        reexport_flags
    fi
}

# Build shared and static libraries both, where dynamic linking is possible.
function DYNAMIC_STATIC_INIT {
    DYNAMIC_INIT
    if [ "${COOKBOOK_DYNAMIC}" == "1" ]
    then
        COOKBOOK_CONFIGURE_FLAGS=(
            --host="${GNU_TARGET}"
            --prefix="/usr"
            --enable-shared
            --enable-static
        )
        COOKBOOK_CMAKE_FLAGS=(
            -DBUILD_SHARED_LIBS=True
            -DENABLE_SHARED=True
            -DENABLE_STATIC=True
        )
        COOKBOOK_MESON_FLAGS=(
            --buildtype release
            --wrap-mode nofallback
            -Ddefault_library=both
            -Dprefix=/usr
        )
    fi
}

# Regenerate every autotools build system under the current directory, in
# sorted order, against the host sysroot's aclocal macros (the Redox libtool).
COOKBOOK_AUTORECONF="autoreconf"
function autotools_recursive_regenerate {
    for f in $(find . -name configure.ac -o -name configure.in -type f | sort)
    do
        echo "* autotools regen in '$(dirname "$f")'..."
        ( cd "$(dirname "$f")" && "${COOKBOOK_AUTORECONF}" -fvi "$@" -I"${COOKBOOK_HOST_SYSROOT}/share/aclocal" )
    done
}

# Download Redox's config.sub (which knows *-redox) to FILE. Under cook the
# wget on PATH is cook's own: mirrors, the download cache and offline mode apply.
function GNU_CONFIG_GET {
    wget -O "$1" "https://gitlab.redox-os.org/redox-os/gnu-config/-/raw/master/config.sub?inline=false"
}
