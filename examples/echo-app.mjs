// A tiny app for the `npm start` demo: it serves one method, `echo`, as app `demo` through the
// agent's callback stream (it opens no port). Any app allowed to invoke `demo` can then call it:
//   curl --unix-socket run/apps/other/http.sock -H 'authorization: Bearer other-token' \
//     -d hi http://hearth/v1.0/invoke/demo/method/echo
// Run from the repository root after `npm start`: node examples/echo-app.mjs
import { createClient } from '@hearth/sdk';

const client = createClient({
  appId: process.env.HEARTH_APP_ID ?? 'demo',
  token: process.env.HEARTH_TOKEN ?? 'demo-token',
  runDir: process.env.HEARTH_RUN_DIR ?? 'run',
});
const serving = client.serve({
  echo: (request) => `echo from ${client.appId}: ${request.text()}`,
});
await serving.ready;
console.log(`serving "echo" as app ${client.appId}; Ctrl-C stops`);

const stop = async () => {
  await client.close();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
