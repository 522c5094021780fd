#!/bin/sh
# unpack-artifact.sh ARTIFACT SHA256 ROOT
#
# Verifies a Hearth release artifact (`npm run package`: hearth-<v>-linux-<arch>-node<abi>.tgz)
# and installs it as ROOT/versions/<version> with ROOT/current pointing at it. kubernetes/Dockerfile
# runs it at image build time with ROOT=/opt/hearth; test/deploy/kubernetes.test.ts runs the same
# script on a real artifact in a temp dir.
#
# The sha256 is checked before a single byte is unpacked. Then the manifest must describe a build
# this Node can load — platform, arch and Node ABI (native modules such as better-sqlite3 load
# only on the ABI they were compiled for) — and its CLI and worker entry points must exist. The
# archive is unpacked into a temp dir under ROOT and renamed into place, so a failed step leaves
# no half-installed version behind.
set -eu

if [ "$#" -ne 3 ]; then
  echo "usage: unpack-artifact.sh ARTIFACT SHA256 ROOT" >&2
  exit 2
fi
artifact=$1
sha256=$2
root=$3

case $sha256 in
  *[!0-9a-f]* | '') echo "unpack-artifact: SHA256 must be 64 lowercase hex digits, got '$sha256'" >&2; exit 1 ;;
esac
if [ "${#sha256}" -ne 64 ]; then
  echo "unpack-artifact: SHA256 must be 64 lowercase hex digits, got ${#sha256}" >&2
  exit 1
fi

# sha256sum reads "<hex>  <file>"; -c fails (non-zero, "FAILED") on any difference.
echo "$sha256  $artifact" | sha256sum -c - >&2

mkdir -p "$root/versions"
tmp=$(mktemp -d "$root/versions/.unpack-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# mktemp makes it 0700; the installed tree must be readable by the agent's non-root uid.
chmod 0755 "$tmp"
tar -xzf "$artifact" -C "$tmp" --no-same-owner

version=$(node -e '
  const fs = require("node:fs");
  const dir = process.argv[1];
  const m = JSON.parse(fs.readFileSync(`${dir}/manifest.json`, "utf8"));
  const fail = (why) => { console.error(`unpack-artifact: ${why}`); process.exit(1); };
  if (m.name !== "hearth") fail(`not a hearth artifact (name ${m.name})`);
  if (!/^[A-Za-z0-9][A-Za-z0-9.+_-]*$/.test(String(m.version))) fail(`invalid version ${m.version}`);
  if (m.platform !== process.platform || m.arch !== process.arch) fail(`built for ${m.platform}-${m.arch}, this is ${process.platform}-${process.arch}`);
  if (m.nodeAbi !== Number(process.versions.modules)) fail(`built for Node ABI ${m.nodeAbi}, this Node (${process.version}) is ${process.versions.modules}`);
  for (const e of [m.entry?.cli, m.entry?.worker]) if (typeof e !== "string" || !fs.statSync(`${dir}/${e}`, { throwIfNoEntry: false })?.isFile()) fail(`entry point ${e} is missing`);
  console.log(m.version);
' "$tmp")

if [ -e "$root/versions/$version" ]; then
  echo "unpack-artifact: $root/versions/$version already exists" >&2
  exit 1
fi
mv "$tmp" "$root/versions/$version"
trap - EXIT
ln -sfn "versions/$version" "$root/current"
echo "installed hearth $version in $root/versions/$version ($root/current)"
