/** A node:http server on `localhost`, for the test proxies: both loopback families, one port. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** Listens on 127.0.0.1 and, where the machine has it, ::1, on the same free port: clients resolve `localhost` either way. */
export async function listenOnLoopback(listener: Listener): Promise<Server[]> {
  const ipv4 = await listenOne('127.0.0.1', 0, listener);
  const port = (ipv4.address() as { port: number }).port;
  try {
    return [ipv4, await listenOne('::1', port, listener)];
  } catch {
    return [ipv4]; // no IPv6 loopback on this machine
  }
}

export function closeServers(servers: Server[]): Promise<void> {
  return Promise.all(
    servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  ).then(() => undefined);
}

function listenOne(host: string, port: number, listener: Listener): Promise<Server> {
  const server = createServer(listener);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
