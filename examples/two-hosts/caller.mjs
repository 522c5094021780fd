// The caller app of the two-hosts example: runs on host 1, invokes `greet` of app `callee` every
// 200 ms and prints who answered and through which agent. Host 2's sibling port is its sibling:
// when host 1's agent dies, calls go through host 2 and come back once host 1 is healthy again.
//   node caller.mjs            (same as HEARTH_SIBLINGS=127.0.0.1:7402 HEARTH_SIBLING_CA=tmp/certs/ca.crt)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@hearth/sdk';

const here = path.dirname(fileURLToPath(import.meta.url));
const started = Date.now();
const clock = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;

const client = createClient({
  appId: 'caller',
  token: 'caller-token-0123456789abcdef0123456789',
  runDir: path.join(here, 'tmp', 'host1', 'run'),
  siblings: [{ name: 'host-2', host: '127.0.0.1', port: 7402 }],
  siblingTls: { ca: readFileSync(path.join(here, 'tmp', 'certs', 'ca.crt'), 'utf8') },
});

const failover = client.failover;
failover.on('failover', (e) => console.log(`${clock()} ** FAILOVER ${e.from} -> ${e.to} (${e.reason}, detected and switched in ${e.detectionMs} ms)`));
failover.on('failback', (e) => console.log(`${clock()} ** FAILBACK ${e.from} -> ${e.to} (${e.reason})`));
failover.on('unavailable', (e) => console.log(`${clock()} ** NO AGENT REACHABLE (${e.rejected.join('; ')})`));

let n = 0;
const timer = setInterval(async () => {
  const i = (n += 1);
  const t0 = performance.now();
  try {
    // Idempotent and deadline-bounded: safe to replay on host 2 if host 1 dies mid-call.
    const reply = await client.invoke('callee', 'greet', `caller #${i}`, { idempotent: true, timeoutMs: 2000 });
    const ms = (performance.now() - t0).toFixed(1);
    console.log(`${clock()} #${i} ${reply.text()}  [via ${agentName()}, ${ms} ms]`);
  } catch (err) {
    console.log(`${clock()} #${i} FAILED ${err.code ?? ''} ${err.message}`);
  }
}, 200);

function agentName() {
  const current = failover.stats().current ?? 'none';
  return current.startsWith('wire:') ? 'host-1 (local wire.sock)' : current;
}

const stop = async () => {
  clearInterval(timer);
  const { failovers, failbacks, replayed, interrupted } = failover.stats();
  console.log(`${clock()} stats: ${JSON.stringify({ failovers, failbacks, replayed, interrupted })}`);
  await client.close();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
