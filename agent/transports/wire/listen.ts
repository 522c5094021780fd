// Binds a net or tls server and reports the outcome as a promise. In a cluster worker a listen
// without `exclusive` goes through the primary, which shares one handle among the workers.
import type net from 'node:net';

export function listen(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
