#!/bin/sh
# Records build.json, the build the report tests render: a real cook build
# of recbook/ (-j 2) in which nodes are built, found up to date, restored
# from a shared cache, fail and are skipped. Run from this directory:
#   sh record.sh && go test ./report -run . -update
set -e
here=$(pwd)
cook="${COOK:-go run ../../cmd/cook}"
target=x86_64-unknown-linux-gnu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r recbook "$tmp/book"
cache="file://$tmp/cache"
run() { $cook --cookbook "$tmp/book" --target $target --remote-cache "$cache" "$@"; }
# another machine builds hello into the shared cache
run --work "$tmp/other" build hello
mkdir -p "$tmp/work" && cp -r "$tmp/other/keys" "$tmp/work/keys" # one team, one signing key
# this work directory has built the bottom of the graph
run --work "$tmp/work" build libpng
# the recorded run
run --work "$tmp/work" -j 2 --json build -k --with-package-deps desktop > "$tmp/build.json" || true
# paths of the temporary directory are not worth keeping
sed "s|$tmp|/tmp/rec|g" "$tmp/build.json" > "$here/build.json"
