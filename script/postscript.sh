# cook: BUILD_POSTSCRIPT — tidy the stage the way upstream does (spec §5.9).
if [ -z "${COOKBOOK_NOSTRIP}" ]
then
    for dir in "${COOKBOOK_STAGE}/bin" "${COOKBOOK_STAGE}/usr/bin" "${COOKBOOK_STAGE}/libexec" "${COOKBOOK_STAGE}/usr/libexec"
    do
        if [ -d "${dir}" ]
        then
            find "${dir}" -type f -exec "${STRIP:-${GNU_TARGET}-strip}" -v {} ';' || true
        fi
    done
fi
for dir in "${COOKBOOK_STAGE}/lib" "${COOKBOOK_STAGE}/usr/lib"
do
    if [ -d "${dir}" ]
    then
        find "${dir}" -type f -name '*.la' -exec rm -fv {} ';'
        if [ -z "${COOKBOOK_NOSTRIP}" ]
        then
            find "${dir}" -type f -exec "${STRIP:-${GNU_TARGET}-strip}" -v --strip-debug {} ';' 2>/dev/null || true
        fi
    fi
done
rm -fv "${COOKBOOK_STAGE}/.crates.toml" "${COOKBOOK_STAGE}/.crates2.json"
for dir in "${COOKBOOK_STAGE}/share/metainfo" "${COOKBOOK_STAGE}/usr/share/metainfo"
do
    if [ -d "${dir}" ]
    then
        find "${dir}" -type f -name '*.xml' -exec sed -i "s|</component>|<pkgname>${COOKBOOK_NAME}</pkgname></component>|" {} ';'
    fi
done
