# cook: BUILD_PRESCRIPT — the environment and functions every build script
# starts with (spec/cookbook.md §5.5–5.6). Recipes call these by name.

PATH="${COOKBOOK_ROOT}/bin:${PATH}"
if [ -n "${COOKBOOK_TOOLCHAIN}" ]
then
    PATH="${COOKBOOK_TOOLCHAIN}/bin:${PATH}"
    LD_LIBRARY_PATH="${COOKBOOK_TOOLCHAIN}/lib${LD_LIBRARY_PATH:+:${LD_LIBRARY_PATH}}"
    export LD_LIBRARY_PATH
fi
export PATH

export CARGO_TARGET_DIR="${COOKBOOK_BUILD}/target"
export CPPFLAGS="${CPPFLAGS:+${CPPFLAGS} }-I${COOKBOOK_SYSROOT}/include"
USER_LDFLAGS="${LDFLAGS:+${LDFLAGS} }"
export LDFLAGS="${USER_LDFLAGS}-L${COOKBOOK_SYSROOT}/lib --static"

# Export the flags again under the per-target names cc-rs and cargo read.
function reexport_flags {
    local t="${TARGET//-/_}"
    export "CFLAGS_${t}=${CFLAGS:+${CFLAGS} }${CPPFLAGS}"
    export "CXXFLAGS_${t}=${CXXFLAGS:+${CXXFLAGS} }${CPPFLAGS}"
    export "LDFLAGS_${t}=${LDFLAGS}"
}

if [ "${TARGET}" != "${COOKBOOK_HOST_TARGET}" ]
then
    export PKG_CONFIG_ALLOW_CROSS=1
    export PKG_CONFIG_PATH=""
    export PKG_CONFIG_LIBDIR="${COOKBOOK_SYSROOT}/lib/pkgconfig"
    export PKG_CONFIG_SYSROOT_DIR="${COOKBOOK_SYSROOT}"
fi

build_type=release
install_flags=--no-track
build_flags=--release
if [ -n "${COOKBOOK_DEBUG}" ]
then
    install_flags+=" --debug"
    build_flags=
    build_type=debug
    export CPPFLAGS="${CPPFLAGS} -g"
fi
if [ -n "${COOKBOOK_OFFLINE}" ]
then
    install_flags+=" --offline"
    build_flags+=" --offline"
fi

reexport_flags

COOKBOOK_CARGO="${COOKBOOK_REDOXER}"
COOKBOOK_CARGO_FLAGS=(--locked)

COOKBOOK_CONFIGURE="${COOKBOOK_SOURCE}/configure"
COOKBOOK_CONFIGURE_FLAGS=(
    --host="${GNU_TARGET}"
    --prefix="/usr"
    --disable-shared
    --enable-static
)
COOKBOOK_MAKE_FLAGS=()
COOKBOOK_MAKE="make"

COOKBOOK_CMAKE="cmake"
COOKBOOK_NINJA="ninja"
COOKBOOK_CMAKE_FLAGS=(
    -DBUILD_SHARED_LIBS=False
    -DENABLE_SHARED=False
    -DENABLE_STATIC=True
)

COOKBOOK_MESON="meson"
COOKBOOK_MESON_FLAGS=(
    --buildtype release
    --wrap-mode nofallback
    -Ddefault_library=static
    -Dprefix=/usr
)

COOKBOOK_PYTHON="${COOKBOOK_TOOLCHAIN}/bin/python3"
COOKBOOK_PYTHON_V="python3.12"
COOKBOOK_PYTHON_PIP_FLAGS=(
    --ignore-installed
    --no-index
    --no-build-isolation
)

function cookbook_cargo {
    "${COOKBOOK_CARGO}" install \
        --path "${COOKBOOK_SOURCE}${COOKBOOK_CARGO_PATH:+/${COOKBOOK_CARGO_PATH}}" \
        --root "${COOKBOOK_STAGE}/usr" \
        -j "${COOKBOOK_MAKE_JOBS}" \
        ${install_flags} ${COOKBOOK_CARGO_FLAGS[@]} "$@"
}

function cookbook_cargo_build {
    recipe="${recipe:-$(basename "${COOKBOOK_RECIPE}")}"
    bin_dir="${bin_dir:-.}"
    bin_name="${bin_name:-$(basename "${COOKBOOK_CARGO_PATH:-${recipe}}")}"
    bin_final_name="${bin_final_name:-${recipe}_${bin_name//_/-}}"
    "${COOKBOOK_CARGO}" build \
        --manifest-path "${COOKBOOK_SOURCE}${COOKBOOK_CARGO_PATH:+/${COOKBOOK_CARGO_PATH}}/Cargo.toml" \
        ${bin_flags} ${build_flags} -j "${COOKBOOK_MAKE_JOBS}" ${COOKBOOK_CARGO_FLAGS[@]}
    mkdir -pv "${COOKBOOK_STAGE}/usr/bin"
    cp -v "target/${TARGET}/${build_type}/${bin_dir}/${bin_name}" "${COOKBOOK_STAGE}/usr/bin/${bin_final_name}"
    unset bin_dir bin_flags bin_name bin_final_name
}

function cookbook_cargo_packages {
    local package
    for package in "$@"
    do
        bin_flags="--package ${package}" bin_name="${package}" bin_final_name="${package//_/-}" cookbook_cargo_build
    done
}

function cookbook_cargo_packages_prefixed {
    local package
    for package in "$@"
    do
        recipe="$(basename "${COOKBOOK_RECIPE}")"
        bin_flags="--package ${package}" bin_name="${package}" bin_final_name="${recipe}_${package//_/-}" cookbook_cargo_build
    done
}

function cookbook_cargo_examples {
    local example
    for example in "$@"
    do
        recipe="$(basename "${COOKBOOK_RECIPE}")"
        bin_flags="--example ${example}" bin_dir="examples" bin_name="${example}" bin_final_name="${recipe}_${example//_/-}" cookbook_cargo_build
    done
}

function cookbook_configure {
    "${COOKBOOK_CONFIGURE}" "${COOKBOOK_CONFIGURE_FLAGS[@]}" "$@"
    "${COOKBOOK_MAKE}" -j "${COOKBOOK_MAKE_JOBS}" "${COOKBOOK_MAKE_FLAGS[@]}"
    "${COOKBOOK_MAKE}" install DESTDIR="${COOKBOOK_STAGE}"
}

# generate_cookbook_cmake_file TARGET GCC_PREFIX SYSROOT FILE
function generate_cookbook_cmake_file {
    local target="$1" prefix="$2" sysroot="$3" file="$4"
    local arch="${target%%-*}" os system
    os="$(echo "${target}" | cut -d - -f3)"
    if [ "${os}" = "linux" ]; then system=Linux; else system=UnixPaths; fi
    {
        if [ -n "${REDOXER_USE_CLANG}" ]
        then
            echo "set(CMAKE_AR llvm-ar)"
            echo "set(CMAKE_CXX_COMPILER clang++)"
            echo "set(CMAKE_C_COMPILER clang)"
            echo "set(CMAKE_NM llvm-nm)"
            echo "set(CMAKE_RANLIB llvm-ranlib)"
        else
            echo "set(CMAKE_AR ${prefix}gcc-ar)"
            echo "set(CMAKE_CXX_COMPILER ${prefix}g++)"
            echo "set(CMAKE_C_COMPILER ${prefix}gcc)"
            echo "set(CMAKE_NM ${prefix}gcc-nm)"
            echo "set(CMAKE_RANLIB ${prefix}gcc-ranlib)"
        fi
        echo "set(CMAKE_FIND_ROOT_PATH ${sysroot})"
        echo "set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)"
        echo "set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)"
        echo "set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)"
        echo "set(CMAKE_PLATFORM_USES_PATH_WHEN_NO_SONAME 1)"
        echo "set(CMAKE_SHARED_LIBRARY_SONAME_C_FLAG \"-Wl,-soname,\")"
        echo "set(CMAKE_SYSTEM_NAME ${system})"
        echo "set(CMAKE_SYSTEM_PROCESSOR ${arch})"
        if [ "${target}" = "${TARGET}" ]
        then
            echo "set(CMAKE_C_FLAGS \"${CFLAGS} ${CPPFLAGS}\")"
            echo "set(CMAKE_CXX_FLAGS \"${CXXFLAGS} ${CPPFLAGS}\")"
        fi
        if [ -n "${CC_WRAPPER}" ]
        then
            echo "set(CMAKE_C_COMPILER_LAUNCHER ${CC_WRAPPER})"
            echo "set(CMAKE_CXX_COMPILER_LAUNCHER ${CC_WRAPPER})"
        fi
    } > "${file}"
}

function cookbook_cmake {
    local prefix="${GNU_TARGET}-"
    if [ "${TARGET}" = "${COOKBOOK_HOST_TARGET}" ]; then prefix=""; fi
    generate_cookbook_cmake_file "${TARGET}" "${prefix}" "${COOKBOOK_SYSROOT}" cross_file.cmake
    "${COOKBOOK_CMAKE}" "${COOKBOOK_SOURCE}" \
        -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CROSSCOMPILING=True \
        -DCMAKE_INSTALL_INCLUDEDIR=include \
        -DCMAKE_INSTALL_LIBDIR=lib \
        -DCMAKE_INSTALL_OLDINCLUDEDIR=/include \
        -DCMAKE_INSTALL_PREFIX=/usr \
        -DCMAKE_INSTALL_SBINDIR=bin \
        -DCMAKE_TOOLCHAIN_FILE=cross_file.cmake \
        -GNinja \
        -Wno-dev \
        "${COOKBOOK_CMAKE_FLAGS[@]}" \
        "$@"
    "${COOKBOOK_NINJA}" -j"${COOKBOOK_MAKE_JOBS}"
    DESTDIR="${COOKBOOK_STAGE}" "${COOKBOOK_NINJA}" install -j"${COOKBOOK_MAKE_JOBS}"
}

# meson_list splits a command line into a meson array: ['gcc', '-m64']
function meson_list {
    local out="" word
    for word in $1
    do
        out+="${out:+, }'${word}'"
    done
    echo "[${out}]"
}

function cookbook_meson {
    local arch="${TARGET%%-*}" system
    system="$(echo "${TARGET}" | cut -d - -f3)"
    {
        echo "[binaries]"
        echo "c = $(meson_list "${CC}")"
        echo "cpp = $(meson_list "${CXX}")"
        echo "ar = '${AR}'"
        echo "strip = '${STRIP}'"
        echo "pkg-config = '${PKG_CONFIG}'"
        echo "llvm-config = '${TARGET}-llvm-config'"
        echo "glib-compile-resources = 'glib-compile-resources'"
        echo "glib-compile-schemas = 'glib-compile-schemas'"
        echo
        echo "[host_machine]"
        echo "system = '${system}'"
        echo "cpu_family = '${arch}'"
        echo "cpu = '${arch}'"
        echo "endian = 'little'"
        echo
        echo "[built-in options]"
        echo "prefix = '/usr'"
        echo "libdir = 'lib'"
        echo "bindir = 'bin'"
        echo "c_args = $(meson_list "${CFLAGS} ${CPPFLAGS}")"
        echo "cpp_args = $(meson_list "${CXXFLAGS} ${CPPFLAGS}")"
        echo "c_link_args = $(meson_list "${LDFLAGS}")"
        echo "cpp_link_args = $(meson_list "${LDFLAGS}")"
        echo
        echo "[properties]"
        echo "needs_exe_wrapper = true"
        echo "sys_root = '${COOKBOOK_SYSROOT}'"
    } > cross_file.txt
    unset AR AS CC CXX LD NM OBJCOPY OBJDUMP PKG_CONFIG RANLIB READELF STRIP
    "${COOKBOOK_MESON}" setup \
        "${COOKBOOK_SOURCE}" \
        . \
        --cross-file cross_file.txt \
        "${COOKBOOK_MESON_FLAGS[@]}" \
        "$@"
    "${COOKBOOK_NINJA}" -j"${COOKBOOK_MAKE_JOBS}"
    DESTDIR="${COOKBOOK_STAGE}" "${COOKBOOK_NINJA}" install -j"${COOKBOOK_MAKE_JOBS}"
}

function PYTHON_INIT {
    local arch="${TARGET%%-*}" os
    os="$(echo "${TARGET}" | cut -d - -f3)"
    export PYTHONPYCACHEPREFIX="${COOKBOOK_BUILD}/pycache"
    export _PYTHON_HOST_PLATFORM="${os}-${arch}"
    export PYTHONPATH="${COOKBOOK_SYSROOT}/usr/lib/${COOKBOOK_PYTHON_V}:${COOKBOOK_SYSROOT}/usr/lib/${COOKBOOK_PYTHON_V}/site-packages${PYTHONPATH:+:${PYTHONPATH}}"
    export _PYTHON_SYSCONFIGDATA_NAME="_sysconfigdata__${os}_${arch}-${os}"
}

function cookbook_python {
    PYTHON_INIT
    rsync -a "${COOKBOOK_SOURCE}/" ./source
    if [ -n "${COOKBOOK_PYTHON_LEGACY_SETUP}" ]
    then
        (cd ./source && python3 ./setup.py install)
    fi
    "${COOKBOOK_PYTHON}" -m pip install \
        --prefix="${COOKBOOK_STAGE}/usr" \
        "./source${COOKBOOK_PYTHON_PYPROJECT_PATH:+/${COOKBOOK_PYTHON_PYPROJECT_PATH}}" \
        "${COOKBOOK_PYTHON_PIP_FLAGS[@]}" \
        "$@"
    if [ -d "${COOKBOOK_BUILD}/${COOKBOOK_STAGE}/usr" ]
    then
        rsync -av "${COOKBOOK_BUILD}/${COOKBOOK_STAGE}/usr/" "${COOKBOOK_STAGE}/usr"
    fi
}
