#!/bin/sh
# Unpack a real CPython of a Python that Splunk embeds (3.9 or 3.13) under <dest>, for the
# tests of the code that runs inside Splunk. Run by `make pythons`.
#
#   packaging/splunk_python.sh 3.9 build/pythons
#
# Debian's archive serves both: 3.9 in bullseye, 3.13 in trixie. The packages are fetched
# with `apt-get download` through a private apt configuration (its own sources file, lists
# and cache under <dest>/apt-<suite>), then unpacked with `dpkg -x` into <dest>/<version>:
# nothing is installed system-wide and the machine's apt sources are left alone. The
# result is started through the wrapper <dest>/bin/python<version>, which finds its
# interpreter relative to itself (the tree can move). trixie's python3.13 needs trixie's
# glibc: the wrapper starts it through that libc6's own loader.
set -eu

version=${1:?usage: splunk_python.sh 3.9|3.13 <dest>}
dest=${2:?usage: splunk_python.sh 3.9|3.13 <dest>}

case $version in
3.9)
    suite=bullseye
    packages="python3.9-minimal libpython3.9-minimal libpython3.9-stdlib libssl1.1 libffi7
        libmpdec3"
    own_libc=no
    ;;
3.13)
    suite=trixie
    packages="python3.13-minimal libpython3.13-minimal libpython3.13-stdlib libc6 libssl3t64
        libffi8 libmpdec4 libexpat1 zlib1g libbz2-1.0 liblzma5 libzstd1 libsqlite3-0 libuuid1
        libcrypt1 libtinfo6 libncursesw6 libreadline8t64"
    own_libc=yes
    ;;
*)
    echo "splunk_python.sh: no recipe for Python $version (3.9 or 3.13)" >&2
    exit 2
    ;;
esac

mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
apt_dir=$dest/apt-$suite
root=$dest/$version
# The multiarch folder the libraries live in (x86_64-linux-gnu, aarch64-linux-gnu, ...).
triplet=$("${PYTHON:-python3}" -c 'import sysconfig; print(sysconfig.get_config_var("MULTIARCH"))')

mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
    "http://deb.debian.org/debian $suite main" >"$apt_dir/sources.list"

apt() {
    apt-get -q \
        -o Dir::Etc::SourceList="$apt_dir/sources.list" \
        -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$apt_dir/lists" \
        -o Dir::State::status=/dev/null \
        -o Dir::Cache="$apt_dir/cache" \
        -o Debug::NoLocking=1 \
        -o APT::Sandbox::User="$(id -un)" \
        "$@"
}

echo "fetching CPython $version from Debian $suite"
apt update >"$apt_dir/update.log" 2>&1 || {
    cat "$apt_dir/update.log" >&2
    exit 1
}
rm -f "$apt_dir"/debs/*.deb
# shellcheck disable=SC2086 # one word per package
(cd "$apt_dir/debs" && apt download $packages >/dev/null)

rm -rf "$root"
mkdir -p "$root"
for deb in "$apt_dir"/debs/*.deb; do
    dpkg -x "$deb" "$root"
done

mkdir -p "$dest/bin"
wrapper=$dest/bin/python$version
libs="\$root/usr/lib/$triplet:\$root/lib/$triplet"
if [ "$own_libc" = yes ]; then
    loader=$(cd "$root/usr/lib/$triplet" && ls ld-linux*.so.* | head -n 1)
    run="exec \"\$root/usr/lib/$triplet/$loader\" --library-path \"$libs\" \"\$root/usr/bin/python$version\" \"\$@\""
else
    run="LD_LIBRARY_PATH=\"$libs\" exec \"\$root/usr/bin/python$version\" \"\$@\""
fi
cat >"$wrapper" <<EOF
#!/bin/sh
# CPython $version from Debian $suite, unpacked by \`make pythons\` (packaging/splunk_python.sh).
root=\$(cd "\${0%/*}/../$version" && pwd)
$run
EOF
chmod +x "$wrapper"

"$wrapper" -S -c 'import csv, json, ssl, ctypes, urllib.request, sys; print(sys.version)'
