VERSION=3.1
TAR=https://example.org/vice-$VERSION.tar.gz

function recipe_build {
    ./configure --host="$HOST"
    make -j"$(nproc)"
    skip=1
}
