#!/usr/bin/env bash
# Packages mcp_jobs for installing without Rust.
#
#   scripts/package.sh [--out-dir DIR]         Debian package, built from this checkout as it is
#                                              (uncommitted changes included):
#                                              DIR/postgresql-15-mcp-jobs_<version>-1_<arch>.deb
#   scripts/package.sh --pgxn [--out-dir DIR]  PGXN distribution of the committed HEAD (git archive:
#                                              uncommitted changes are NOT included):
#                                              DIR/mcp_jobs-<version>.zip, one top directory
#                                              mcp_jobs-<version>/ with META.json at its root
#   scripts/package.sh --deb-version           prints the Debian version (<version>-1), builds nothing
#
# DIR defaults to target/package. The last line printed is the path of the file built; running it
# again rebuilds that file from scratch (idempotent).
#
# <version> is Cargo.toml's `version`, the only place it is written: pgrx puts it into the installed
# control file (mcp_jobs.control has default_version = '@CARGO_VERSION@'), the .deb takes it, and
# META.json must repeat it (checked here for --pgxn and by tests/packaging).
#
# The .deb holds exactly the file tree `cargo pgrx package` (release build) produces, which is what
# `cargo pgrx install --release` installs (the library, the control file, the current full install
# script and every sql/mcp_jobs--*--*.sql upgrade script), plus /usr/share/doc/<package>/ (copyright,
# README.md, CHANGELOG.md when present) and the Debian control data.
#
# Environment:
#   MCP_JOBS_PG_CONFIG    pg_config of the Debian PostgreSQL to package for
#                         (default /usr/lib/postgresql/15/bin/pg_config; its major version names the
#                         package and its Depends)
#   MCP_JOBS_DEB_REVISION Debian revision (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022

die() { echo "package.sh: $*" >&2; exit 1; }

mode=deb
out_dir=target/package
while [ $# -gt 0 ]; do
  case "$1" in
    --pgxn) mode=pgxn ;;
    --deb-version) mode=deb-version ;;
    --out-dir) [ $# -ge 2 ] || die "--out-dir needs a directory"; out_dir=$2; shift ;;
    --out-dir=*) out_dir=${1#--out-dir=} ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

# cargo_field KEY: a [package] string field of the Cargo.toml read from stdin
cargo_field() {
  python3 -c 'import sys, tomllib; print(tomllib.loads(sys.stdin.read())["package"][sys.argv[1]])' "$1"
}

version=$(cargo_field version < Cargo.toml)
revision=${MCP_JOBS_DEB_REVISION:-1}
# Debian orders "~" before anything, as SemVer orders a pre-release (0.7.0-rc.1 -> 0.7.0~rc.1)
deb_version="${version/-/\~}-$revision"

if [ "$mode" = deb-version ]; then
  echo "$deb_version"
  exit 0
fi

mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

if [ "$mode" = pgxn ]; then
  command -v git >/dev/null || die "git is needed for --pgxn"
  git rev-parse --verify -q HEAD >/dev/null || die "--pgxn packages the committed HEAD: this is not a git checkout with commits"
  head_version=$(git show HEAD:Cargo.toml | cargo_field version)
  read -r name meta_version provides_version < <(git show HEAD:META.json | python3 -c '
import json, sys
m = json.load(sys.stdin)
print(m["name"], m["version"], m["provides"][m["name"]]["version"])')
  [ "$meta_version" = "$head_version" ] && [ "$provides_version" = "$head_version" ] ||
    die "META.json at HEAD has version $meta_version (provides: $provides_version) but Cargo.toml at HEAD has $head_version"
  if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "package.sh: note: uncommitted changes are not in the PGXN zip (it is git archive of HEAD)" >&2
  fi
  zip="$out_dir/$name-$head_version.zip"
  rm -f "$zip" "$zip.tmp"
  git archive --format=zip --prefix="$name-$head_version/" -o "$zip.tmp" HEAD
  mv "$zip.tmp" "$zip"
  echo "$zip"
  exit 0
fi

# --- the Debian package ---
for tool in cargo dpkg-deb dpkg python3; do
  command -v "$tool" >/dev/null || die "$tool is needed to build the .deb"
done
license=$(cargo_field license < Cargo.toml)
[ "$license" = MIT ] || die "Cargo.toml declares license '$license'; packaging/debian/copyright states MIT: update it first"

pg_config=${MCP_JOBS_PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[ -x "$pg_config" ] || die "no pg_config at $pg_config (set MCP_JOBS_PG_CONFIG)"
pg_major=$("$pg_config" --version | sed -En 's/^PostgreSQL ([0-9]+).*/\1/p')
[ -n "$pg_major" ] || die "cannot read the major version from '$("$pg_config" --version)'"
pkglibdir=$("$pg_config" --pkglibdir)
sharedir=$("$pg_config" --sharedir)
if [ "$pkglibdir" != "/usr/lib/postgresql/$pg_major/lib" ] || [ "$sharedir" != "/usr/share/postgresql/$pg_major" ]; then
  die "$pg_config is not Debian's PostgreSQL $pg_major layout (pkglibdir $pkglibdir, sharedir $sharedir)"
fi

package="postgresql-$pg_major-mcp-jobs"
arch=$(dpkg --print-architecture)
stage="$out_dir/stage/$package"
deb="$out_dir/${package}_${deb_version}_${arch}.deb"

rm -rf "$stage"
mkdir -p "$stage"
echo "package.sh: cargo pgrx package (release) for PostgreSQL $pg_major into $stage" >&2
cargo pgrx package --pg-config "$pg_config" --no-default-features --features "pg$pg_major" \
  --out-dir "$stage" >&2

# What pgrx produced must be the extension as `cargo pgrx install` installs it, at this version.
ext_dir="$stage$sharedir/extension"
[ -f "$stage$pkglibdir/mcp_jobs.so" ] || die "cargo pgrx package produced no $pkglibdir/mcp_jobs.so"
[ -f "$ext_dir/mcp_jobs--$version.sql" ] || die "cargo pgrx package produced no mcp_jobs--$version.sql"
grep -qx "default_version = '$version'" "$ext_dir/mcp_jobs.control" ||
  die "the packaged mcp_jobs.control does not say default_version = '$version'"

doc_dir="$stage/usr/share/doc/$package"
mkdir -p "$doc_dir"
cp packaging/debian/copyright "$doc_dir/copyright"
cp README.md "$doc_dir/README.md"
if [ -f CHANGELOG.md ]; then cp CHANGELOG.md "$doc_dir/CHANGELOG.md"; fi

find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f -exec chmod 0644 {} +

mkdir -p "$stage/DEBIAN"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
  > "$stage/DEBIAN/md5sums"
installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
# the summary is Cargo.toml's description (escaped for sed)
summary=$(cargo_field description < Cargo.toml | sed 's/[&|\\]/\\&/g')
sed -e "s/@PG_MAJOR@/$pg_major/g" -e "s/@DEB_VERSION@/$deb_version/g" -e "s/@ARCH@/$arch/g" \
    -e "s/@INSTALLED_SIZE@/$installed_size/g" -e "s|@SUMMARY@|$summary|g" \
    packaging/debian/control.in > "$stage/DEBIAN/control"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

rm -f "$deb"
dpkg-deb --build --root-owner-group "$stage" "$deb" >&2
echo "$deb"
