// Faults on demand, for tests of how the Worker copes with an IdP that is down or broken: requests
// to a path hang (the connection is accepted and never answered) or get garbage back. Set through
// the DevIdp handle (Node) or, when the IdP is started with `control: true`, through
// POST /__dev-idp/faults from loopback (the workerd tests, which cannot hold the handle).
import type { IncomingMessage, ServerResponse } from 'node:http';

import { isFault, type Fault, type FaultMode } from './fault-types.js';

export { FAULT_MODES, isFault, type Fault, type FaultMode } from './fault-types.js';

export class Faults {
  readonly #byPath = new Map<string, { mode: FaultMode; remaining: number }>();
  readonly #hung = new Set<ServerResponse>();

  set(fault: Fault): void {
    if (!isFault(fault)) throw new TypeError(`Dev IdP: not a fault: ${JSON.stringify(fault)}`);
    this.#byPath.set(fault.path, { mode: fault.mode, remaining: fault.times ?? Number.POSITIVE_INFINITY });
  }

  /** Every fault off; requests hanging now are answered 503, so nothing waits on them any more. */
  clear(): void {
    this.#byPath.clear();
    for (const res of this.#hung) {
      if (!res.headersSent) send(res, 503, 'text/plain; charset=utf-8', 'released');
    }
    this.#hung.clear();
  }

  /** Answers the request the way its path's fault says, if it has one; true when it did (or hangs). */
  apply(pathname: string, req: IncomingMessage, res: ServerResponse): boolean {
    const fault = this.#byPath.get(pathname);
    if (fault === undefined) return false;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.#byPath.delete(pathname);
    req.resume(); // read and drop any body
    switch (fault.mode) {
      case 'hang':
        this.#hung.add(res);
        res.once('close', () => this.#hung.delete(res));
        return true;
      case 'html':
        send(res, 200, 'text/html; charset=utf-8', '<!doctype html><html><head><title>Welcome</title></head><body><p>Our new portal is here!</p></body></html>');
        return true;
      case 'http-500':
        send(res, 500, 'text/html; charset=utf-8', '<!doctype html><html><body><h1>500 Internal Server Error</h1></body></html>');
        return true;
      case 'oauth-500':
        send(res, 500, 'application/json; charset=utf-8', JSON.stringify({ error: 'server_error', error_description: 'oops! something went wrong' }));
        return true;
      case 'invalid-json':
        send(res, 200, 'application/json; charset=utf-8', '{"issuer":"http://localhost","keys":[{"kty":');
        return true;
    }
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}
