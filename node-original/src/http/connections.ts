// Every TCP connection of the HTTP server and what it is doing (no request yet, a request in
// flight, idle between requests, upgraded to a websocket), so that shutdown can close the ones
// that carry nothing, wait for the others, and name any it had to cut.
//
// Why not `server.close()` alone: Node's (20) closes only the connections idle *between*
// requests (`closeIdleConnections`); one that has not sent a complete request head yet counts as
// busy, and close() also stops the timer that would enforce `headersTimeout` on it. So a
// browser's spare connection (Chromium opens one ahead of need and keeps it unused for up to a
// minute) held `io.close()`'s callback until the browser let it go: the shutdown that "did not
// end" (issue 26, docs/reliability.md).
import type { IncomingMessage, Server, ServerResponse } from 'http';
import type { Socket } from 'net';

interface Use {
  readonly opened: number;
  requests: number;
  /** `GET /path` of the request whose response has not ended yet. */
  inFlight: string | null;
  /** `GET /path` of the request that turned the connection into a websocket. */
  upgraded: string | null;
}

/** One connection as a log line shows it: no query string, header or body, so no token. */
export interface ConnectionReport {
  remotePort: number | undefined;
  /** `no request yet`, `request in flight: GET /api/v1/me`, `idle after 3 requests`, `websocket: GET /socket.io/ (websocket)`. */
  state: string;
  ageMs: number;
  bytesRead: number;
  bytesWritten: number;
  /** The socket's own: `open`, `readOnly` (we ended it), `writeOnly` (the peer ended it). */
  readyState: string;
}

/** `GET /socket.io/ (websocket)`: the method, the path and, for Engine.IO, the transport. */
function describeRequest(request: IncomingMessage): string {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const transport = url.searchParams.get('transport');
  return `${request.method} ${url.pathname}${transport ? ` (${transport})` : ''}`;
}

function describeUse(use: Use): string {
  if (use.upgraded) return `websocket: ${use.upgraded}`;
  if (use.inFlight) return `request in flight: ${use.inFlight}`;
  if (use.requests === 0) return 'no request yet';
  return `idle after ${use.requests} request${use.requests === 1 ? '' : 's'}`;
}

export class ConnectionTracker {
  private readonly uses = new Map<Socket, Use>();
  private draining = false;
  private drained: (() => void) | null = null;

  constructor(server: Server) {
    server.on('connection', (socket: Socket) => {
      this.uses.set(socket, { opened: Date.now(), requests: 0, inFlight: null, upgraded: null });
      socket.once('close', () => {
        this.uses.delete(socket);
        if (this.draining && this.uses.size === 0) this.drained?.();
      });
      // Accepted in the moment between the signal and the listener's close: nothing will be served.
      if (this.draining) socket.destroy();
    });
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      const use = this.uses.get(request.socket);
      if (!use) return;
      use.requests += 1;
      use.inFlight = describeRequest(request);
      response.once('close', () => {
        use.inFlight = null;
        // Its last response sent: the connection would only wait for a next request now.
        if (this.draining && !use.upgraded) request.socket.destroySoon();
      });
    });
    // Engine.IO has its own 'upgrade' listener; this one only takes note. A websocket is closed
    // by io.close() with a close handshake, which ends its TCP connection.
    server.on('upgrade', (request: IncomingMessage, socket: Socket) => {
      const use = this.uses.get(socket);
      if (!use) return;
      use.requests += 1;
      use.upgraded = describeRequest(request);
    });
  }

  get size(): number {
    return this.uses.size;
  }

  /**
   * From now on no connection is kept open for a next request: closes at once those with no
   * request in flight (including those that never sent one), and every other as soon as its
   * response has ended. Websockets are left to Socket.IO's close. Resolves once none is left.
   */
  drain(): Promise<void> {
    this.draining = true;
    const done = new Promise<void>((resolve) => {
      this.drained = resolve;
    });
    for (const [socket, use] of this.uses) {
      if (use.inFlight === null && use.upgraded === null) socket.destroySoon();
    }
    if (this.uses.size === 0) this.drained?.();
    return done;
  }

  /** The first `limit` connections, one by one, and how many there are in each state. */
  report(limit = 100): { byState: Record<string, number>; connections: ConnectionReport[] } {
    const now = Date.now();
    const byState: Record<string, number> = {};
    const connections: ConnectionReport[] = [];
    for (const [socket, use] of this.uses) {
      const state = describeUse(use);
      const kind = state.replace(/:.*| after .*/, '');
      byState[kind] = (byState[kind] ?? 0) + 1;
      if (connections.length < limit) {
        connections.push({
          remotePort: socket.remotePort,
          state,
          ageMs: now - use.opened,
          bytesRead: socket.bytesRead,
          bytesWritten: socket.bytesWritten,
          readyState: socket.readyState,
        });
      }
    }
    return { byState, connections };
  }

  /** Cuts every connection left (the shutdown's backstop). */
  destroyAll(): void {
    for (const socket of this.uses.keys()) socket.destroy();
  }
}
