// The floor: a plain Unix-socket server that writes every length-prefixed frame straight back.
import net from 'node:net';
import { forwardFrames } from './length-prefixed-frames.js';

export interface RunningServer {
  close(): Promise<void>;
}

export async function startRawEchoServer(socketPath: string): Promise<RunningServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    forwardFrames(socket, socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}
