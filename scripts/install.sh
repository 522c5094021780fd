#!/usr/bin/env bash
# Installs Hearth on a systemd host from a release artifact (`npm run package`), or removes it.
#
#   install.sh --artifact hearth-<v>-linux-<arch>-node<abi>.tgz --sha256 <hex> [--root DIR] [--no-enable] [--node PATH]
#   install.sh --uninstall [--root DIR] [--purge]
#
# Layout (under --root, default /):
#   /opt/hearth/versions/<v>/         the artifact, unpacked (temp dir + rename: never half there)
#   /opt/hearth/current -> versions/<v>   switched by renaming a new link over it (atomic)
#   /opt/hearth/bin/hearth            `exec <node> /opt/hearth/current/dist/ops-agent/main.js "$@"`
#   /usr/local/bin/hearth -> /opt/hearth/bin/hearth   the CLI on PATH (left alone if something else is there)
#   /usr/local/lib/systemd/system/hearth.service, /usr/local/lib/tmpfiles.d/hearth.conf,
#   /usr/local/lib/sysusers.d/hearth.conf
#   /etc/hearth/hearth.yaml           only when absent: an operator's configuration is never overwritten
# Units go to /usr/local/lib, not /etc/systemd/system or /usr/lib: /usr/lib belongs to the
# package manager, and /etc is the administrator's — files there override ours by name and
# `systemctl edit hearth` drop-ins survive every reinstall. systemd searches /usr/local/lib for
# units, tmpfiles.d and sysusers.d alike.
#
# With --root / (the default) this must run as root and, unless --no-enable (or systemd is not
# running), then applies sysusers and tmpfiles, reloads systemd and enables and starts hearth. With another --root it
# only builds the tree (an image, or a test).
#
# This installs the *bootstrap* build. Upgrading a running host is the ops-agent's job
# (`hearth upgrade`: the new build is unpacked under /var/lib/hearth/versions and takes over the
# sockets with no dropped connection); installing another version here only moves `current`,
# which the service runs from its next restart on.
#
# Idempotent: each step compares before it writes, and a second identical run reports that
# nothing changed. Exit 0 on success, 1 on any error (nothing is left half-installed), 2 on usage.
set -euo pipefail
umask 022

PROG=install.sh
say() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage() {
  cat >&2 <<'EOF'
usage: install.sh --artifact FILE.tgz --sha256 HEX [--root DIR] [--no-enable] [--node PATH]
       install.sh --uninstall [--root DIR] [--purge]
EOF
  exit 2
}

ARTIFACT='' SHA256='' ROOT='/' ENABLE=1 NODE='' UNINSTALL=0 PURGE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --artifact) [ $# -ge 2 ] || usage; ARTIFACT=$2; shift 2 ;;
    --sha256) [ $# -ge 2 ] || usage; SHA256=$2; shift 2 ;;
    --root) [ $# -ge 2 ] || usage; ROOT=$2; shift 2 ;;
    --node) [ $# -ge 2 ] || usage; NODE=$2; shift 2 ;;
    --no-enable) ENABLE=0; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) usage ;;
    *) printf '%s: unknown argument: %s\n' "$PROG" "$1" >&2; usage ;;
  esac
done

# The source of the unit files: systemd/ beside this script's directory (a checkout, or an
# unpacked release bundle with the same layout).
SRC=$(cd "$(dirname "$0")/.." && pwd)/systemd

[ -d "$ROOT" ] || die "--root $ROOT is not a directory"
ROOT=$(cd "$ROOT" && pwd)
LIVE=0
if [ "$ROOT" = / ]; then
  LIVE=1
  ROOT=''   # paths below are "$ROOT/opt/…"
  [ "$(id -u)" -eq 0 ] || die "installing into / needs root (run with sudo), or give --root DIR to build the layout in a directory"
fi

OPT=$ROOT/opt/hearth
UNIT=$ROOT/usr/local/lib/systemd/system/hearth.service
TMPFILES=$ROOT/usr/local/lib/tmpfiles.d/hearth.conf
SYSUSERS=$ROOT/usr/local/lib/sysusers.d/hearth.conf
CONFIG=$ROOT/etc/hearth/hearth.yaml
CLI_LINK=$ROOT/usr/local/bin/hearth
WRAPPER_PATH=/opt/hearth/bin/hearth   # as the host sees it

CHANGED=0   # anything written by this run
WROTE=0     # the last install_file wrote its file
changed() { CHANGED=1; say "$*"; }

# Systemd's own tools act only on the live system, only when asked to, and only when systemd runs
# it (/run/systemd/system is sd_booted()'s test: not in a container or chroot without systemd).
systemd_runs() { command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; }
can_enable() { [ "$LIVE" -eq 1 ] && [ "$ENABLE" -eq 1 ] && systemd_runs; }

# install_file SRC DEST MODE: writes DEST (temp file + rename) unless it already has these bytes and mode.
install_file() {
  local src=$1 dest=$2 mode=$3
  WROTE=0
  if [ -f "$dest" ] && [ ! -L "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
    say "unchanged $dest"
    return
  fi
  WROTE=1
  mkdir -p "$(dirname "$dest")"
  local tmp="$dest.tmp-$$"
  cp "$src" "$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$dest"
  changed "installed $dest"
}

uninstall() {
  local removed=0
  if [ "$LIVE" -eq 1 ] && systemd_runs; then
    if systemctl cat hearth.service >/dev/null 2>&1; then
      say "stopping and disabling hearth.service (its workers drain first)"
      systemctl disable --now hearth.service || die "systemctl disable --now hearth failed"
      removed=1
    fi
  fi
  for f in "$UNIT" "$TMPFILES" "$SYSUSERS"; do
    if [ -e "$f" ]; then rm -f "$f"; say "removed $f"; removed=1; fi
  done
  if [ -L "$CLI_LINK" ] && [ "$(readlink "$CLI_LINK")" = "$WRAPPER_PATH" ]; then
    rm -f "$CLI_LINK"; say "removed $CLI_LINK"; removed=1
  fi
  if [ -e "$OPT" ]; then rm -rf "$OPT"; say "removed $OPT"; removed=1; fi
  if [ "$LIVE" -eq 1 ] && systemd_runs && [ "$removed" -eq 1 ]; then
    systemctl daemon-reload
    say "systemd reloaded"
  fi
  local d
  for d in "$ROOT/etc/hearth" "$ROOT/var/lib/hearth" "$ROOT/run/hearth"; do
    [ -e "$d" ] || continue
    if [ "$PURGE" -eq 1 ]; then
      rm -rf "$d"; say "purged $d"; removed=1
    elif [ "$d" != "$ROOT/run/hearth" ]; then
      say "kept $d (configuration and data; --purge removes them)"
    fi
  done
  # A uid that owned files is not handed out again by removing it; `userdel hearth` if you must.
  if [ "$PURGE" -eq 1 ]; then say "kept the hearth user and group"; fi
  if [ "$removed" -eq 0 ]; then say "nothing to remove: hearth is not installed under ${ROOT:-/}"; else say "hearth uninstalled"; fi
}

if [ "$UNINSTALL" -eq 1 ]; then
  [ -z "$ARTIFACT" ] && [ -z "$SHA256" ] || die "--uninstall takes no --artifact or --sha256"
  uninstall
  exit 0
fi

# ---- checks: nothing is written until all of them pass ----
[ -n "$ARTIFACT" ] && [ -n "$SHA256" ] || usage
[ "$PURGE" -eq 0 ] || die "--purge goes with --uninstall"
[ -f "$ARTIFACT" ] || die "artifact not found: $ARTIFACT"
SHA256=$(printf '%s' "$SHA256" | tr 'A-F' 'a-f')
printf '%s' "$SHA256" | grep -Eq '^[0-9a-f]{64}$' || die "--sha256 must be 64 hex digits, got '$SHA256'"
for f in hearth.service hearth.yaml tmpfiles.d/hearth.conf sysusers.d/hearth.conf; do
  [ -f "$SRC/$f" ] || die "missing $SRC/$f (run install.sh from a Hearth checkout or release bundle)"
done

say "verifying sha256 of $ARTIFACT"
ACTUAL=$(sha256sum "$ARTIFACT" | cut -d' ' -f1)
[ "$ACTUAL" = "$SHA256" ] || die "sha256 mismatch for $ARTIFACT: expected $SHA256, got $ACTUAL; nothing was installed"

if [ -z "$NODE" ]; then NODE=$(command -v node || true); fi
[ -n "$NODE" ] || die "node not found on PATH: install Node.js 20 (Debian: apt-get install nodejs) or give --node PATH"
case "$NODE" in /*) ;; *) NODE=$(cd "$(dirname "$NODE")" && pwd)/$(basename "$NODE") ;; esac
# The path is written into the service's start wrapper: only characters that need no quoting.
case "$NODE" in *[!A-Za-z0-9/._+-]*) die "node path $NODE has characters the start wrapper cannot hold safely; use a plain path (e.g. a symlink)" ;; esac
[ -x "$NODE" ] || die "$NODE is not executable"

# manifest.json (docs/artifacts.md): name, version, platform/arch and Node ABI must fit this node.
MANIFEST=$(tar -xzOf "$ARTIFACT" manifest.json 2>/dev/null) || die "$ARTIFACT is not a Hearth release artifact (no manifest.json)"
FACTS=$(printf '%s' "$MANIFEST" | "$NODE" -e '
  let m;
  try { m = JSON.parse(require("fs").readFileSync(0, "utf8")); } catch (e) { console.log("bad manifest.json: " + e.message); process.exit(1); }
  const here = { platform: process.platform, arch: process.arch, nodeAbi: Number(process.versions.modules) };
  if (m.name !== "hearth") { console.log("manifest.json names " + JSON.stringify(m.name) + ", not hearth"); process.exit(1); }
  if (typeof m.version !== "string" || !/^[A-Za-z0-9][A-Za-z0-9.+_-]*$/.test(m.version)) { console.log("invalid version " + JSON.stringify(m.version)); process.exit(1); }
  for (const k of ["platform", "arch", "nodeAbi"]) {
    if (m[k] !== here[k]) { console.log("built for " + k + " " + m[k] + ", but " + process.execPath + " is " + here[k] + " (Node " + process.version + ")"); process.exit(1); }
  }
  console.log(m.version + " " + here.nodeAbi);
') || die "$FACTS"
VERSION=${FACTS% *}
ABI=${FACTS#* }
say "artifact: hearth $VERSION (Node ABI $ABI, $NODE)"

# ---- the version directory ----
VERSIONS=$OPT/versions
DEST=$VERSIONS/$VERSION
if [ -d "$DEST" ]; then
  RECORDED=$(sed -n 's/^ *"sha256": *"\([0-9a-f]*\)".*/\1/p' "$DEST/.hearth-install.json" 2>/dev/null || true)
  [ "$RECORDED" = "$SHA256" ] || die "version $VERSION is already installed in $DEST from a different artifact (sha256 ${RECORDED:-unknown}); build another version or uninstall first"
  say "unchanged $DEST (already installed from this artifact)"
else
  mkdir -p "$VERSIONS"
  TMP=$(mktemp -d "$VERSIONS/.tmp-$VERSION-XXXXXX")
  trap 'rm -rf "$TMP"' EXIT
  say "unpacking into $DEST"
  tar -xzf "$ARTIFACT" -C "$TMP" --no-same-owner --no-same-permissions || die "cannot unpack $ARTIFACT"
  [ -f "$TMP/dist/ops-agent/main.js" ] && [ -f "$TMP/dist/agent/main.js" ] || die "$ARTIFACT lacks dist/ops-agent/main.js or dist/agent/main.js"
  printf '{\n  "version": "%s",\n  "sha256": "%s",\n  "source": "%s",\n  "installedAt": "%s"\n}\n' \
    "$VERSION" "$SHA256" "$(basename "$ARTIFACT")" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$TMP/.hearth-install.json"
  chmod 755 "$TMP"
  mv -T "$TMP" "$DEST"
  trap - EXIT
  changed "installed $DEST"
fi

# ---- current -> versions/<v>: a new link renamed over the old one, so it always resolves ----
if [ -L "$OPT/current" ] && [ "$(readlink "$OPT/current")" = "versions/$VERSION" ]; then
  say "unchanged $OPT/current -> versions/$VERSION"
else
  [ ! -e "$OPT/current" ] || [ -L "$OPT/current" ] || die "$OPT/current exists and is not a symlink; move it away"
  PREVIOUS=$(readlink "$OPT/current" 2>/dev/null || true)
  ln -sfn "versions/$VERSION" "$OPT/.current-$$"
  mv -T "$OPT/.current-$$" "$OPT/current"
  changed "switched $OPT/current -> versions/$VERSION${PREVIOUS:+ (was $PREVIOUS, kept)}"
fi

# ---- the CLI wrapper: this node, the current build ----
WRAPPER_TMP=$(mktemp)
cat > "$WRAPPER_TMP" <<EOF
#!/bin/sh
# Written by scripts/install.sh: the Hearth CLI and ops-agent of the build /opt/hearth/current
# points at, run by the node it was installed for (Node ABI $ABI). hearth.service's ExecStart.
exec "$NODE" /opt/hearth/current/dist/ops-agent/main.js "\$@"
EOF
install_file "$WRAPPER_TMP" "$OPT/bin/hearth" 0755
rm -f "$WRAPPER_TMP"

if [ -L "$CLI_LINK" ] && [ "$(readlink "$CLI_LINK")" = "$WRAPPER_PATH" ]; then
  say "unchanged $CLI_LINK -> $WRAPPER_PATH"
elif [ -e "$CLI_LINK" ] || [ -L "$CLI_LINK" ]; then
  say "left $CLI_LINK alone (not ours); the CLI is $WRAPPER_PATH"
else
  mkdir -p "$(dirname "$CLI_LINK")"
  ln -s "$WRAPPER_PATH" "$CLI_LINK"
  changed "linked $CLI_LINK -> $WRAPPER_PATH"
fi

# ---- units, tmpfiles, sysusers, default configuration ----
install_file "$SRC/hearth.service" "$UNIT" 0644
UNIT_CHANGED=$WROTE
install_file "$SRC/tmpfiles.d/hearth.conf" "$TMPFILES" 0644
install_file "$SRC/sysusers.d/hearth.conf" "$SYSUSERS" 0644

if [ -e "$CONFIG" ] || [ -L "$CONFIG" ]; then
  say "kept $CONFIG (an existing configuration is never overwritten)"
else
  install_file "$SRC/hearth.yaml" "$CONFIG" 0644
fi

# ---- the live system ----
if can_enable; then
  if getent passwd hearth >/dev/null; then say "unchanged user hearth"; else systemd-sysusers "$SYSUSERS"; changed "created user and group hearth"; fi
  systemd-tmpfiles --create "$TMPFILES"
  say "applied $TMPFILES"
  if [ "$UNIT_CHANGED" -eq 1 ]; then systemctl daemon-reload; say "systemd reloaded"; fi
  if systemctl is-enabled --quiet hearth.service; then say "unchanged: hearth.service enabled"; else systemctl enable hearth.service; changed "enabled hearth.service"; fi
  if systemctl is-active --quiet hearth.service; then
    say "unchanged: hearth.service running"
    if [ "$CHANGED" -eq 1 ]; then
      say "the running service keeps the build and unit it started with; they apply at its next restart (systemctl restart hearth — apps reconnect). To upgrade without a restart: hearth upgrade --artifact … --sha256 …"
    fi
  else
    systemctl start hearth.service
    changed "started hearth.service (systemctl status hearth; hearth status)"
  fi
else
  if [ "$LIVE" -eq 0 ]; then why="--root $ROOT"; elif [ "$ENABLE" -eq 0 ]; then why=--no-enable; else why="systemd is not running here"; fi
  say "not enabled ($why): on the host run systemd-sysusers, systemd-tmpfiles --create, systemctl daemon-reload, systemctl enable --now hearth"
fi

if [ "$CHANGED" -eq 0 ]; then
  say "nothing changed: hearth $VERSION is installed under ${ROOT:-/}"
else
  say "hearth $VERSION installed under ${ROOT:-/}"
fi
