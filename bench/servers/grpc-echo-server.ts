// The bare grpc-js baseline: one unary Echo method on a Unix socket, proto loaded at run time with
// @grpc/proto-loader (as the agent loads proto/), no interceptors, no auth.
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadService } from '../clients/grpc-unary.js';
import type { RunningServer } from './raw-echo-server.js';

export async function startGrpcEchoServer(socketPath: string, protoPath: string): Promise<RunningServer> {
  const service = loadService(path.basename(protoPath), [path.dirname(protoPath)], 'hearth.bench.v1.Echo');
  const server = new grpc.Server();
  server.addService(service, {
    Echo: (call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => callback(null, call.request),
  });
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });
  return {
    close: () => new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 2_000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    }),
  };
}
