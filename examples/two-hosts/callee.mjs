// The callee app of the two-hosts example: serves one method, `greet`, through its local agent's
// callback stream (no port of its own). Run one per host: `node callee.mjs 1` and `node callee.mjs 2`.
// serve() opens its stream again by itself when the agent restarts.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@hearth/sdk';

const host = process.argv[2] ?? '1';
if (host !== '1' && host !== '2') {
  console.error('usage: node callee.mjs 1|2');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));

const client = createClient({
  appId: 'callee',
  token: 'callee-token-0123456789abcdef0123456789',
  runDir: path.join(here, 'tmp', `host${host}`, 'run'),
});

const serving = client.serve({
  greet: (request) => `hello ${request.text()}, from the callee on host-${host}`,
});
await serving.ready;
console.log(`callee serving greet on host-${host} (instance ${serving.instanceId})`);

const stop = async () => {
  await client.close();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
