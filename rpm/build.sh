#!/usr/bin/env bash
# Build xosan-<version>-<release>.noarch.rpm from this work tree: `make rpm` runs it.
#
#   rpm/build.sh [OUTPUT_DIR]     (default build/rpm; RPM_RELEASE=N sets the release, default 1)
#
# The source tarball holds the files git knows in the work tree as they are now: tracked
# files plus untracked ones that .gitignore does not exclude. So a fresh clone builds
# what was committed, and a tree with uncommitted work builds that work (`git archive
# HEAD` would silently leave it out). Needs git, GNU tar and rpmbuild (Debian: rpm).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${1:-}
[ -n "$out" ] || out=build/rpm
mkdir -p "$out"
out=$(cd "$out" && pwd)
release=${RPM_RELEASE:-1}

command -v rpmbuild >/dev/null || { echo "rpm/build.sh: rpmbuild not found (Debian: apt-get install rpm)" >&2; exit 1; }
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || { echo "rpm/build.sh: $root is not a git work tree" >&2; exit 1; }

version=$(sed -n 's/^__version__ = "\([^"]*\)"$/\1/p' xosan/__init__.py)
[ -n "$version" ] || { echo "rpm/build.sh: no __version__ = \"...\" line in xosan/__init__.py" >&2; exit 1; }

top=$(mktemp -d "${TMPDIR:-/tmp}/xosan-rpm.XXXXXX")
trap 'rm -rf "$top"' EXIT
mkdir -p "$top/SOURCES" "$top/BUILD" "$top/RPMS" "$top/SRPMS" "$top/SPECS" "$top/tmp"

# Tracked + untracked-not-ignored files that exist (a tracked file may be deleted in the tree).
git ls-files -z --cached --others --exclude-standard | \
  while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done | sort -z -u > "$top/files"
tar --create --gzip --file "$top/SOURCES/xosan-$version.tar.gz" --null --files-from "$top/files" \
    --transform "s,^,xosan-$version/," --owner=0 --group=0 --numeric-owner --mode='u+rw,go+r,go-w'

rpmbuild -bb --quiet \
    --define "_topdir $top" \
    --define "_tmppath $top/tmp" \
    --define "xosan_version $version" \
    --define "xosan_release $release" \
    rpm/xosan.spec

rpm_file="$top/RPMS/noarch/xosan-$version-$release.noarch.rpm"
[ -f "$rpm_file" ] || { echo "rpm/build.sh: rpmbuild made no $rpm_file" >&2; exit 1; }
cp "$rpm_file" "$out/"
echo "$out/xosan-$version-$release.noarch.rpm"
