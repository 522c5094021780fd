#!/bin/sh
# siblings-tls.sh DIR [NAME...]
#
# Makes the TLS files of the sibling port (agent-to-agent invoke and SDK failover, port 7443) with
# the openssl CLI:
#   DIR/ca.key, DIR/ca.crt   a CA of its own for the sibling port (EC P-256, 10 years). Kept if
#                            it already exists, so running the script again renews the agents'
#                            certificate under the same CA (rotation: nothing else changes).
#                            ca.key never goes into the cluster: keep it offline.
#   DIR/tls.key, DIR/tls.crt the agents' certificate (EC P-256, 1 year), signed by that CA, with
#                            subjectAltName DNS:NAME for each NAME (default hearth-siblings.hearth.svc
#                            and hearth-siblings.hearth.svc.cluster.local, what the ConfigMap's
#                            siblings.tls.serverName and the apps' HEARTH_SIBLING_SERVERNAME check)
#                            and extendedKeyUsage serverAuth + clientAuth: every agent serves it on
#                            the sibling port and presents it as a client certificate to the others.
# A DaemonSet mounts one Secret on every node, so all agents share this certificate; on VMs give
# each agent its own (docs/operations.md, "Configuring siblings for failover").
#
# Then, e.g.:
#   kubectl -n hearth create secret generic hearth-siblings-tls \
#     --from-file=tls.crt=DIR/tls.crt --from-file=tls.key=DIR/tls.key --from-file=ca.crt=DIR/ca.crt
#   kubectl -n hearth-demo create configmap hearth-siblings-ca --from-file=ca.crt=DIR/ca.crt
# test/deploy/kubernetes.test.ts runs this script and starts the packaged agent with its output.
set -eu

if [ "$#" -lt 1 ]; then
  echo "usage: siblings-tls.sh DIR [NAME...]" >&2
  exit 2
fi
dir=$1
shift
if [ "$#" -eq 0 ]; then
  set -- hearth-siblings.hearth.svc hearth-siblings.hearth.svc.cluster.local
fi
san=""
for name in "$@"; do
  san="${san:+$san, }DNS:$name"
done

umask 077
mkdir -p "$dir"
cd "$dir"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

if [ ! -f ca.key ] || [ ! -f ca.crt ]; then
  # shellcheck disable=SC2086 # $ec is several arguments
  openssl req -x509 $ec -keyout ca.key -out ca.crt -days 3650 -subj "/CN=hearth-siblings-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

printf 'subjectAltName = %s\nextendedKeyUsage = serverAuth, clientAuth\nkeyUsage = critical, digitalSignature\nbasicConstraints = critical, CA:FALSE\n' "$san" > tls.ext
# shellcheck disable=SC2086
openssl req $ec -keyout tls.key.new -out tls.csr -subj "/CN=$1" 2>/dev/null
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out tls.crt.new -days 365 -extfile tls.ext 2>/dev/null
# Both files replaced only once both exist: a failed run never leaves a key that does not match.
mv tls.key.new tls.key
mv tls.crt.new tls.crt
rm -f tls.csr tls.ext
# The certificates are public; the keys stay 0600.
chmod 0644 ca.crt tls.crt
echo "siblings-tls: $dir/tls.crt for $san, signed by $dir/ca.crt"
