// Whether the database answers, as a background probe sees it: the Rust server's
// `store/availability.rs`, the same choices. Every PROBE_INTERVAL_MS (and at once when a query
// fails) the probe asks a trivial question with a short timeout, PostgreSQL on a connection of
// its own outside the pool. Readiness, /health and the Engine.IO handshake gate read the answer
// from memory; while the database is known to be down every query fails at once with
// DatabaseUnavailableError instead of waiting the pool's connect timeout. An outage is logged
// once when it begins and once when it ends, with how long it lasted. A server unreachable at
// start is the same state: the process serves, not ready, and the probe runs the migrations the
// first time it gets through.
import { logger } from '../utils/logger';

export const PROBE_INTERVAL_MS = 1000;
/** How long a probe waits for an answer (connecting included). */
export const PROBE_TIMEOUT_MS = 1000;
/** Least time between two probes, however often failing queries ask for one. */
const PROBE_SPACING_MS = 200;

/** A query not tried because the database is known to be down. */
export class DatabaseUnavailableError extends Error {
  constructor() {
    super('the database is unreachable');
  }
}

/** Asks the database whether it answers; rejects with the cause. Runs pending migrations on the first success. */
export type Probe = () => Promise<void>;

export class DatabaseAvailability {
  private up: boolean;
  private since = Date.now();
  private lastSuccess = -Infinity;
  private lastProbe = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private probing = false;
  /** A probe was asked for while one ran: the next comes soon. */
  private wanted = false;
  private closed = false;
  private readonly waiters = new Set<() => void>();

  /** `label`: where the database is, never its URL (which may carry a password). */
  constructor(
    readonly label: string,
    private readonly probe: Probe,
    unreachable: string | null,
  ) {
    this.up = unreachable === null;
    if (unreachable !== null) {
      logger.warn(
        'database unreachable at start: serving, not ready (new sessions and API calls get 503) until it answers; the migrations run then',
        { database: label, cause: unreachable },
      );
    }
    this.schedule(PROBE_INTERVAL_MS);
  }

  isUp(): boolean {
    return this.up;
  }

  /** A query failed: probe soon rather than at the next interval. */
  suspect(): void {
    if (this.closed) return;
    if (this.probing) {
      this.wanted = true;
      return;
    }
    this.schedule(Math.max(0, this.lastProbe + PROBE_SPACING_MS - Date.now()));
  }

  /**
   * Resolves true once a probe begun at or after `after` (ms since the epoch) has succeeded,
   * false at `deadline` or when `abandon` is aborted first. Asks for a probe at once.
   */
  answeredSince(after: number, deadline: number, abandon?: AbortSignal): Promise<boolean> {
    this.suspect();
    return new Promise((resolve) => {
      const check = () => {
        if (this.lastSuccess >= after) finish(true);
      };
      const give = () => finish(false);
      const finish = (answered: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        abandon?.removeEventListener('abort', give);
        resolve(answered);
      };
      const timer = setTimeout(give, Math.max(0, deadline - Date.now()));
      this.waiters.add(check);
      if (abandon?.aborted) return give();
      abandon?.addEventListener('abort', give, { once: true });
      check();
    });
  }

  /** Stops the probe: the database is closing and counts as down, without an outage logged. */
  close(): void {
    this.closed = true;
    this.up = false;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), delayMs);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    this.timer = null;
    this.probing = true;
    const started = Date.now();
    this.lastProbe = started;
    let failure: string | null = null;
    try {
      await this.probe();
    } catch (error) {
      failure = (error as Error).message;
    }
    this.probing = false;
    if (this.closed) return;
    if (failure === null) this.answered(started);
    else this.failed(failure);
    this.schedule(this.wanted ? PROBE_SPACING_MS : PROBE_INTERVAL_MS);
    this.wanted = false;
  }

  private answered(started: number): void {
    if (!this.up) {
      logger.info('database answers again: new sessions and API calls are served', {
        database: this.label,
        downMs: Date.now() - this.since,
      });
      this.up = true;
      this.since = Date.now();
    }
    this.lastSuccess = started;
    for (const check of [...this.waiters]) check();
  }

  private failed(cause: string): void {
    if (!this.up) return;
    logger.error(
      'database unreachable: new sessions are refused (503, retried by clients) and API calls answer 503 until it is back; connected sockets stay',
      { database: this.label, cause },
    );
    this.up = false;
    this.since = Date.now();
  }
}

/** Rejects with `no answer within ...` if `work` takes longer than the probe's timeout. */
export function withinProbeTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
