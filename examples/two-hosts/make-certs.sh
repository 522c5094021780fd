#!/bin/sh
# Throw-away TLS material for the two-hosts example: a CA, and one certificate per host for
# 127.0.0.1 and localhost signed by it (used by the agents' sibling ports, and by each agent as
# its client certificate towards the other). Written to ./tmp/certs next to this script.
set -eu
cd "$(dirname "$0")"
dir=tmp/certs
mkdir -p "$dir"
cd "$dir"
key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
printf 'subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth, clientAuth\nbasicConstraints = CA:FALSE\n' > host.ext
# shellcheck disable=SC2086
openssl req -x509 $key -keyout ca.key -out ca.crt -subj /CN=two-hosts-ca -days 30 2>/dev/null
for host in host1 host2; do
  # shellcheck disable=SC2086
  openssl req $key -keyout "$host.key" -out "$host.csr" -subj "/CN=$host" 2>/dev/null
  openssl x509 -req -in "$host.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$host.crt" -days 30 -extfile host.ext 2>/dev/null
done
rm -f ./*.csr ca.srl host.ext
echo "certificates in $(pwd):"
ls
