/**
 * The dev IdP behind a loopback TCP proxy that this suite controls, to make the IdP disappear or
 * hang at any moment of a sign-in and come back, with nothing from the IdP's own code:
 *
 * - `forward`: bytes go both ways, the IdP works;
 * - `refuse`: the IdP is killed, as far as anyone can tell: the proxy stops listening (new
 *   connections are refused) and resets the open ones;
 * - `hang`: the IdP is hung: connections are accepted and requests are read, but nothing is
 *   forwarded and nothing is answered.
 *
 * Back to `forward`, the IdP answers again with the state it had (its sessions and signing key), as
 * a real IdP keeps them across a restart; connections held during a hang are closed (their
 * requests were abandoned by then).
 *
 * The IdP's issuer must be the proxy's URL (the Worker checks the discovery document's `issuer` and
 * the ID token's `iss` against OIDC_ISSUER), while it listens on another port.
 */
import { createServer, connect, Server, type Socket } from 'node:net';
import { startDevIdp, type DevIdp } from '../dev/idp/server.ts';
import { freePort, log } from './harness.ts';

export type ProxyMode = 'forward' | 'refuse' | 'hang';

interface Connection {
  client: Socket;
  upstream: Socket | undefined;
  /** A request arrived while hanging: it is never answered, and the connection is closed on recovery. */
  held: boolean;
}

export class FaultProxy {
  mode: ProxyMode = 'forward';
  /** Connections accepted, and those that had a request held, since the last `resetCounts()`. */
  counts = { accepted: 0, held: 0 };
  private servers: Server[] = [];
  private readonly connections = new Set<Connection>();

  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  get url(): string {
    return `http://localhost:${this.port}`;
  }

  resetCounts(): void {
    this.counts = { accepted: 0, held: 0 };
  }

  /** Listens on 127.0.0.1 and, where the machine has it, ::1 ("localhost" may resolve to either). */
  async listen(): Promise<void> {
    const ipv4 = await this.listenOn('127.0.0.1');
    this.servers = [ipv4];
    try {
      this.servers.push(await this.listenOn('::1'));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EADDRNOTAVAIL' && code !== 'EAFNOSUPPORT') throw error;
    }
  }

  async set(mode: ProxyMode): Promise<void> {
    const previous = this.mode;
    this.mode = mode;
    if (mode === 'refuse') {
      const closing = this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
      this.servers = [];
      this.destroy(() => true);
      await Promise.all(closing);
      return;
    }
    if (previous === 'refuse') await this.listen();
    if (mode === 'forward') this.destroy((connection) => connection.held);
  }

  async close(): Promise<void> {
    await this.set('refuse');
  }

  private destroy(which: (connection: Connection) => boolean): void {
    for (const connection of [...this.connections]) {
      if (!which(connection)) continue;
      connection.client.destroy();
      connection.upstream?.destroy();
      this.connections.delete(connection);
    }
  }

  private listenOn(host: string): Promise<Server> {
    const server = createServer((client) => this.accept(client));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, host, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }

  private accept(client: Socket): void {
    this.counts.accepted++;
    const connection: Connection = { client, upstream: undefined, held: false };
    this.connections.add(connection);
    const hold = () => {
      if (!connection.held) this.counts.held++;
      connection.held = true;
      client.pause();
      // Cut loose from the IdP, whose keep-alive timeout would otherwise close this connection and
      // turn the hang into a reset: a hung IdP keeps it open and silent.
      const upstream = connection.upstream;
      connection.upstream = undefined;
      upstream?.removeAllListeners();
      upstream?.on('error', () => undefined);
      upstream?.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      if (this.mode !== 'forward' || connection.held) return hold();
      connection.upstream ??= this.openUpstream(connection);
      connection.upstream.write(chunk);
    });
    client.on('end', () => (connection.held ? client.destroy() : connection.upstream?.end()));
    client.on('error', () => connection.upstream?.destroy());
    client.on('close', () => {
      connection.upstream?.destroy();
      this.connections.delete(connection);
    });
  }

  private openUpstream(connection: Connection): Socket {
    const upstream = connect(this.target.port, this.target.host);
    upstream.on('data', (chunk: Buffer) => connection.client.write(chunk));
    upstream.on('end', () => connection.client.end());
    upstream.on('error', () => connection.client.destroy());
    upstream.on('close', () => connection.client.destroy());
    return upstream;
  }
}

export interface FrontedIdp {
  idp: DevIdp;
  proxy: FaultProxy;
  close(): Promise<void>;
}

/** The dev IdP on a port of its own, with the proxy's URL as its issuer, and the proxy in front. */
export async function startFrontedIdp(redirectUris: string[]): Promise<FrontedIdp> {
  const proxyPort = await freePort();
  const backendPort = await freePort();
  const idp = await startDevIdpAt(`http://localhost:${proxyPort}`, backendPort, redirectUris);
  const proxy = new FaultProxy(proxyPort, { host: '127.0.0.1', port: backendPort });
  try {
    await proxy.listen();
  } catch (error) {
    await idp.close();
    throw error;
  }
  return {
    idp,
    proxy,
    close: async () => {
      await proxy.close();
      await idp.close();
    },
  };
}

/** The dev IdP listening on `backendPort`, advertising `issuer` (the proxy's URL, another port). */
async function startDevIdpAt(issuer: string, backendPort: number, redirectUris: string[]): Promise<DevIdp> {
  const idp = await startDevIdp({ port: backendPort, redirectUris, issuer });
  log(`dev IdP: issuer ${issuer} (listening on ${backendPort}, behind the fault proxy)`);
  return idp;
}
