// A throw-away CA and one agent certificate for the sibling port (TLS on loopback), made with the
// `openssl` CLI into a temp dir, as the tests do: the certificate names 127.0.0.1 and localhost,
// and serves as both server and client certificate, so mutual TLS works between the bench's agents.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeTlsFiles(dir: string): TlsFiles {
  const ext = path.join(dir, 'agent.ext');
  writeFileSync(ext, [
    'subjectAltName = IP:127.0.0.1, DNS:localhost',
    'extendedKeyUsage = serverAuth, clientAuth',
    'basicConstraints = CA:FALSE',
    '',
  ].join('\n'));
  openssl(dir, ['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=hearth-bench-ca', '-days', '2']);
  openssl(dir, ['req', ...EC, '-keyout', 'agent.key', '-out', 'agent.csr', '-subj', '/CN=localhost']);
  openssl(dir, ['x509', '-req', '-in', 'agent.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'agent.crt',
    '-days', '2', '-extfile', ext]);
  return { caFile: path.join(dir, 'ca.crt'), certFile: path.join(dir, 'agent.crt'), keyFile: path.join(dir, 'agent.key') };
}
