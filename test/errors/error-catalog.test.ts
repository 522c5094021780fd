// Keeps the error catalog, its HTTP/gRPC mappings, docs/errors.md and the codes used in source
// in sync: a code added in one place and not the others fails here.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { ERROR_CATALOG, isErrorCode } from '../../agent/errors/error-catalog.js';
import { HearthError, toHearthError } from '../../agent/errors/hearth-error.js';
import { OPS_ERROR_CATALOG, isOpsErrorCode, type OpsErrorCode } from '../../ops-agent/ops-errors.js';
import { repoRoot } from '../support/repo-root.js';

interface DocRow {
  code: string;
  http: number;
  /** gRPC status name (app-facing table) or CLI exit status (ops-agent table). */
  third: string;
}

/** The code rows of the table under `## <heading>` in docs/errors.md. */
async function docRows(heading: string): Promise<DocRow[]> {
  const text = await readFile(path.join(repoRoot, 'docs/errors.md'), 'utf8');
  const section = text.split(/^## /m).find((s) => s.startsWith(heading)) ?? '';
  return section
    .split('\n')
    .filter((line) => line.startsWith('| `HEARTH_ERR_'))
    .map((line) => {
      const [, code, http, third] = line.split('|').map((c) => c.trim());
      return { code: (code ?? '').replaceAll('`', ''), http: Number(http), third: third ?? '' };
    });
}

test('every app-facing code is documented with the same HTTP and gRPC status, and nothing else is', async (t) => {
  const rows = await docRows('App-facing API');
  const grpcName = (n: number): string | undefined =>
    Object.entries(GrpcStatus).find(([, v]) => (v as number) === n)?.[0];
  t.deepEqual(rows.map((r) => r.code).sort(), Object.keys(ERROR_CATALOG).sort());
  for (const row of rows) {
    const spec = ERROR_CATALOG[row.code as keyof typeof ERROR_CATALOG];
    t.is(row.http, spec.http, `${row.code} HTTP status`);
    t.is(row.third, grpcName(spec.grpc) ?? '?', `${row.code} gRPC status`);
  }
});

test('every ops-agent code is documented with the same HTTP status and exit code, and nothing else is', async (t) => {
  const rows = await docRows('Ops-agent and CLI');
  t.deepEqual(rows.map((r) => r.code).sort(), Object.keys(OPS_ERROR_CATALOG).sort());
  for (const row of rows) {
    const spec = OPS_ERROR_CATALOG[row.code as OpsErrorCode];
    t.is(row.http, spec.http, `${row.code} HTTP status`);
    t.is(Number(row.third), spec.exit, `${row.code} exit status`);
  }
});

test('catalog mappings are sane: HTTP 4xx/5xx and never gRPC OK', (t) => {
  for (const [code, spec] of Object.entries(ERROR_CATALOG)) {
    t.true(spec.http >= 400 && spec.http < 600, `${code} http ${spec.http}`);
    t.not(spec.grpc, GrpcStatus.OK, code);
    t.regex(code, /^HEARTH_ERR_[A-Z_]+$/);
    t.true(spec.message.length > 0);
  }
});

async function codesUsedIn(dirs: readonly string[]): Promise<Set<string>> {
  const used = new Set<string>();
  for (const dir of dirs) {
    for (const file of await listTs(path.join(repoRoot, dir))) {
      for (const m of (await readFile(file, 'utf8')).matchAll(/HEARTH_ERR_[A-Z_]+/g)) used.add(m[0]);
    }
  }
  return used;
}

test('every HEARTH_ERR_ code written in the source exists in its process catalog', async (t) => {
  const appFacing = await codesUsedIn(['agent', 'sdk']);
  t.true(appFacing.size > 5, 'found codes in agent/');
  for (const code of appFacing) t.true(isErrorCode(code), `${code} is used in agent/ but not in the catalog`);
  // The ops-agent relays worker codes (a worker's `failed` message), so either catalog is valid there.
  for (const code of await codesUsedIn(['ops-agent', 'upgrade'])) {
    t.true(isOpsErrorCode(code) || isErrorCode(code), `${code} is used in ops-agent/ but in no catalog`);
  }
});

test('toHearthError keeps a known code from a foreign error and hides unknown ones', (t) => {
  // An error from another loaded build: same code, different class.
  const foreign = Object.assign(new Error('etag differs'), { code: 'HEARTH_ERR_ETAG_MISMATCH' });
  const mapped = toHearthError(foreign);
  t.is(mapped.code, 'HEARTH_ERR_ETAG_MISMATCH');
  t.is(mapped.httpStatus, 409);
  const internal = toHearthError(Object.assign(new Error('ECONNRESET'), { code: 'ECONNRESET' }));
  t.is(internal.code, 'HEARTH_ERR_INTERNAL');
  t.is(internal.message, ERROR_CATALOG.HEARTH_ERR_INTERNAL.message, 'internal details are not leaked');
  const own = new HearthError('HEARTH_ERR_INVALID_KEY');
  t.is(toHearthError(own), own);
});

async function listTs(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return [];
  }
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => path.join(e.parentPath, e.name));
}
