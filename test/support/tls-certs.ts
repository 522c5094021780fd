// Throw-away TLS material for tests and the bench (the one place that makes certificates), made
// with the `openssl` CLI into a directory the caller owns: a CA, a server certificate for 127.0.0.1
// and localhost signed by it (also usable as a client certificate: agents present it to each other
// under mutual TLS), a client certificate signed by the same CA, and a second, unrelated CA with a
// certificate of its own (a stranger).
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TlsFiles {
  readonly dir: string;
  readonly caFile: string;
  /** Server (and agent client) certificate: SAN IP:127.0.0.1, DNS:localhost. */
  readonly certFile: string;
  readonly keyFile: string;
  /** A client-only certificate signed by the same CA. */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** A certificate signed by another CA: refused under mutual TLS. */
  readonly strangerCertFile: string;
  readonly strangerKeyFile: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(dir: string, args: readonly string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

async function selfSignedCa(dir: string, name: string): Promise<void> {
  await openssl(dir, ['req', '-x509', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${name}`, '-days', '2']);
}

async function signed(dir: string, name: string, ca: string, ext: string): Promise<void> {
  await openssl(dir, ['req', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  await openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', ext]);
}

/** Writes everything into `dir` (which the caller removes). */
export async function makeTlsFiles(dir: string): Promise<TlsFiles> {
  const serverExt = path.join(dir, 'server.ext');
  const clientExt = path.join(dir, 'client.ext');
  await writeFile(serverExt, 'subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth, clientAuth\nbasicConstraints = CA:FALSE\n');
  await writeFile(clientExt, 'extendedKeyUsage = clientAuth\nbasicConstraints = CA:FALSE\n');
  await selfSignedCa(dir, 'ca');
  await selfSignedCa(dir, 'other-ca');
  await signed(dir, 'server', 'ca', serverExt);
  await signed(dir, 'client', 'ca', clientExt);
  await signed(dir, 'stranger', 'other-ca', serverExt);
  const f = (name: string): string => path.join(dir, name);
  return {
    dir,
    caFile: f('ca.crt'),
    certFile: f('server.crt'),
    keyFile: f('server.key'),
    clientCertFile: f('client.crt'),
    clientKeyFile: f('client.key'),
    strangerCertFile: f('stranger.crt'),
    strangerKeyFile: f('stranger.key'),
  };
}
