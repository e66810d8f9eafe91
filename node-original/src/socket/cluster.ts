// Several processes sharing rooms and broadcasts through Redis (issue #13): REDIS_URL set, the
// official @socket.io/redis-adapter over node-redis 4, a publisher and its duplicate as
// subscriber. Everything Redis-specific lives here; the rest of the server only sees
// `adapter()` for socket.io, `health()` for /health and `close()` for shutdown.
//
// What this module adds to the plain `createAdapter(pub, sub)` recipe, each measured here:
// - The server starts while Redis is down: the clients connect in the background (node-redis
//   retries until it succeeds, every 50 ms more up to 500 ms) and nothing awaits them.
// - Redis lost: one warn line; back: one info line with the outage's length and losses. node-redis
//   emits `error` on every retry; without a listener the first one kills the process.
// - Local delivery never waits on Redis: the adapter publishes without awaiting, then delivers
//   locally in the same call.
// - Cross-node messages known to be lost are counted (`lost` in /health), see `guardPublish`.
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { logger } from '../utils/logger';

/** REDIS_URL is not `redis://host:port[/db]` (or `rediss://`). */
export class RedisUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUrlError';
  }
}

export interface RedisTarget {
  /** As given, for the client (it may carry a password). */
  url: string;
  /** host:port/db, for logs: never the credentials. */
  label: string;
}

export function parseRedisUrl(raw: string): RedisTarget {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new RedisUrlError('REDIS_URL must be written as redis://host:port[/db]');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    const scheme = parsed.protocol.replace(/:$/, '');
    throw new RedisUrlError(`REDIS_URL has the scheme "${scheme}": use redis:// or rediss://`);
  }
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) {
    throw new RedisUrlError('REDIS_URL names a database that is not a number');
  }
  return { url: raw, label: `${parsed.hostname}:${parsed.port || '6379'}/${db || '0'}` };
}

/** The `adapter` field of /health. */
export interface AdapterHealth {
  kind: 'redis';
  /** `connected` only when both clients are ready and every subscription is in place. */
  state: 'connected' | 'reconnecting';
  /** Cross-node messages known to be lost since the process started. */
  lost: number;
}

type RedisClient = ReturnType<typeof createClient>;
type AnyCall = (...args: unknown[]) => Promise<unknown>;

/** Every attempt quickly, never more than 500 ms apart, for ever. */
const reconnectStrategy = (retries: number): number => Math.min(50 * (retries + 1), 500);
const SUBSCRIBE_RETRY_MS = 500;
const LOSS_LOG_INTERVAL_MS = 10_000;

function whenReady(client: RedisClient): Promise<void> {
  return client.isReady ? Promise.resolve() : new Promise((done) => client.once('ready', () => done()));
}

/** Replaces a method on one client instance (node-redis keeps its state in private fields, so a
 * wrapper object would not do: the adapter must get the client itself). */
function replaceMethod(client: RedisClient, name: string, wrap: (original: AnyCall) => AnyCall): void {
  const target = client as unknown as Record<string, AnyCall>;
  const original = target[name].bind(client);
  target[name] = wrap(original);
}

export class RedisCluster {
  private readonly pub: RedisClient;
  private readonly sub: RedisClient;
  private lost = 0;
  /** Subscriptions asked for by the adapter and not yet confirmed by Redis. */
  private pendingSubscriptions = 0;
  private connected = false;
  private everConnected = false;
  private outageSince = Date.now();
  private lostAtOutageStart = 0;
  private outageLogged = false;
  private lastLossLog = 0;
  private closing = false;

  constructor(private readonly target: RedisTarget) {
    // The publisher has no offline queue: a publish while Redis is unreachable fails at once and
    // is counted as lost. With node-redis's default (an unbounded queue sent on reconnection) it
    // would be delivered late, or silently to nobody when a remote subscriber has not yet
    // resubscribed (the nodes reconnect independently, up to 500 ms apart), and the queue would
    // grow for as long as the outage lasts.
    this.pub = createClient({ url: target.url, disableOfflineQueue: true, socket: { reconnectStrategy } });
    // The subscriber keeps it: with it off, node-redis rejects every queued SUBSCRIBE on each
    // failed connection attempt.
    this.sub = this.pub.duplicate({ disableOfflineQueue: false });
    for (const [role, client] of [
      ['publisher', this.pub],
      ['subscriber', this.sub],
    ] as const) {
      client.on('error', (error: Error) => this.onError(role, error));
      client.on('ready', () => this.refresh());
      client.on('end', () => this.refresh());
    }
    this.guardPublish();
    this.guardSubscriptions();
    // Not awaited: the server listens at once and joins the cluster whenever Redis answers.
    // connect() settles only once connected, or rejects if closed first.
    for (const client of [this.pub, this.sub]) {
      client.connect().catch((error: Error) => {
        if (this.closing) return;
        logger.error('Redis client gave up connecting', { redis: target.label, error: error.message });
      });
    }
  }

  /** For `io.adapter(...)`: namespaces created from now on share rooms through Redis. */
  adapter(): ReturnType<typeof createAdapter> {
    return createAdapter(this.pub, this.sub);
  }

  health(): AdapterHealth {
    return { kind: 'redis', state: this.connected ? 'connected' : 'reconnecting', lost: this.lost };
  }

  /** After io.close(): drops both connections at once (QUIT would wait on a frozen Redis). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([this.pub, this.sub].map((client) => (client.isOpen ? client.disconnect() : undefined)));
  }

  // Workaround of the adapter's behaviour: @socket.io/redis-adapter 8.3 calls
  // `pubClient.publish(...)` for every broadcast, request and response without handling the
  // promise (upstream fire-and-forget; it never learns of a failure). With node-redis a publish
  // rejects when the client is offline (ClientOfflineError) or when the connection drops while
  // the command waits for its reply (SocketClosedUnexpectedlyError): measured here, each was an
  // unhandled rejection, which ends a Node 20 process. So the publisher's `publish` is wrapped:
  // a rejection is caught and counted as one cross-node message lost. That is every loss this
  // process can know of (a publish whose reply was lost may have been delivered all the same: it
  // counts). Not counted, because PUBLISH only says how many received a message, not how many
  // should have: a message Redis accepted while a remote node's subscriber was still
  // reconnecting. A freeze (Redis stopped, connection open) loses nothing: publishes wait in
  // the socket and are delivered when Redis resumes; node-redis sees no error, so /health stays
  // `connected` meanwhile.
  private guardPublish(): void {
    replaceMethod(this.pub, 'publish', (publish) => (...args: unknown[]) =>
      publish(...args).catch((error: Error) => {
        if (!this.closing) this.countLoss(error);
        return 0;
      }),
    );
  }

  // Workaround of node-redis 4.7's behaviour: a SUBSCRIBE queued while the client is not
  // connected, then carried across a failed attempt (which resets the pub/sub state), is answered
  // as an ordinary command once Redis is up, and the reply queue runs empty: a TypeError thrown
  // from the socket's data handler killed the process (redis 5.9 fails the same case too, with
  // an `error` event on every message instead). The adapter subscribes in its constructor, at
  // start, possibly with Redis down; so subscriptions wait here until the subscriber is ready.
  // One rejected because the connection dropped before Redis confirmed it is asked for again
  // (node-redis restores on reconnection only the subscriptions Redis had confirmed; it does so
  // before it reports `ready`). Unsubscribing (only at shutdown) has its rejection caught: the
  // adapter does not handle that promise either.
  private guardSubscriptions(): void {
    for (const name of ['subscribe', 'pSubscribe']) {
      replaceMethod(this.sub, name, (subscribe) => (...args: unknown[]) => {
        this.pendingSubscriptions += 1;
        const attempt = (): Promise<void> =>
          whenReady(this.sub)
            .then(() => subscribe(...args))
            .then(
              () => {
                this.pendingSubscriptions -= 1;
                this.refresh();
              },
              async (error: Error) => {
                if (this.closing) return;
                const fields = { redis: this.target.label, error: error.message };
                logger.warn('Redis subscription failed; asking again', fields);
                await new Promise((done) => setTimeout(done, SUBSCRIBE_RETRY_MS));
                return attempt();
              },
            );
        return attempt();
      });
    }
    for (const name of ['unsubscribe', 'pUnsubscribe']) {
      replaceMethod(this.sub, name, (unsubscribe) => (...args: unknown[]) =>
        unsubscribe(...args).catch(() => undefined),
      );
    }
  }

  private countLoss(error: Error): void {
    this.lost += 1;
    // During an outage the recovery line reports the losses; otherwise a line now and then.
    if (this.connected && Date.now() - this.lastLossLog >= LOSS_LOG_INTERVAL_MS) {
      this.lastLossLog = Date.now();
      logger.warn('cross-node messages lost: a publish to Redis failed', {
        redis: this.target.label,
        error: error.message,
        lost: this.lost,
      });
    }
  }

  private onError(role: 'publisher' | 'subscriber', error: Error): void {
    if (this.closing) return;
    this.refresh({ role, error });
    // At start, with Redis down, there was no connection to lose: say once that it is missing.
    if (!this.connected && !this.outageLogged) {
      this.outageLogged = true;
      logger.warn('Redis unreachable; retrying, local clients are served meanwhile', {
        redis: this.target.label,
        client: role,
        error: error.message,
      });
    }
  }

  private refresh(cause?: { role: string; error: Error }): void {
    if (this.closing) return;
    const up = this.pub.isReady && this.sub.isReady && this.pendingSubscriptions === 0;
    if (up && !this.connected) {
      this.connected = true;
      const redis = this.target.label;
      const elapsedMs = Date.now() - this.outageSince;
      const lost = this.lost - this.lostAtOutageStart;
      if (this.everConnected) {
        logger.info('reconnected to Redis; cross-node delivery resumed', { redis, downMs: elapsedMs, lost });
      } else {
        logger.info('connected to Redis; cross-node delivery on', { redis, afterMs: elapsedMs, lost });
      }
      this.everConnected = true;
      this.outageLogged = false;
    } else if (!up && this.connected) {
      this.connected = false;
      this.outageSince = Date.now();
      this.lostAtOutageStart = this.lost;
      this.outageLogged = true;
      logger.warn('lost the connection to Redis; cross-node delivery paused, local delivery goes on', {
        redis: this.target.label,
        client: cause?.role,
        error: cause?.error.message,
      });
    }
  }
}
