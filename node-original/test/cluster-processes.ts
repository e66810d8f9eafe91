// The processes of a two-node test cluster: a throwaway redis-server that can be killed, frozen
// and restarted on its port, and Node original servers sharing it (REDIS_URL), a JWT secret and
// an SQLite file. Every process is stopped by its pid, also when the test process itself exits.
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { connect } from 'net';
import { existsSync, mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { randomBytes } from 'crypto';
import jwt from 'jsonwebtoken';
import { COMMANDS, freePort } from './servers';

const REDIS_SERVER = process.env.REDIS_SERVER || '/usr/bin/redis-server';

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function track(child: ChildProcess): ChildProcess {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

async function killAndWait(child: ChildProcess | null, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((done) => {
    child.once('exit', () => done());
    child.kill(signal);
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = connect({ port, host: '127.0.0.1' });
    probe.once('connect', () => {
      probe.destroy();
      done(true);
    });
    probe.once('error', () => done(false));
  });
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** redis-server on a free loopback port, no persistence, in its own directory. */
export class RedisProcess {
  private child: ChildProcess | null = null;
  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async create(dir: string): Promise<RedisProcess> {
    if (!existsSync(REDIS_SERVER)) {
      throw new Error(`no redis-server at ${REDIS_SERVER}: install Debian's redis-server or set REDIS_SERVER`);
    }
    return new RedisProcess(await freePort(), dir);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** Spawns it and resolves once it accepts connections; returns when it was spawned. */
  async start(): Promise<number> {
    const spawnedAt = Date.now();
    this.child = track(
      spawn(
        REDIS_SERVER,
        ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir],
        { stdio: 'ignore' },
      ),
    );
    await until(`redis-server on ${this.port}`, 5_000, async () => ((await portOpen(this.port)) ? true : undefined));
    return spawnedAt;
  }

  /** SIGKILL by pid: every connection drops at once, nothing is saved. */
  async kill(): Promise<void> {
    await killAndWait(this.child, 'SIGKILL');
    this.child = null;
  }

  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  async dispose(): Promise<void> {
    this.thaw();
    await this.kill();
  }
}

export interface AdapterHealth {
  kind: string;
  state: 'connected' | 'reconnecting';
  lost: number;
}

export interface Health {
  status: string;
  connections: number;
  adapter?: AdapterHealth;
}

/** What the nodes of one cluster share: a seeded SQLite file and a JWT secret. */
export class SharedState {
  readonly dir = mkdtempSync(join(tmpdir(), 'cluster-test-'));
  readonly secret = randomBytes(32).toString('hex');

  get databaseUrl(): string {
    return `sqlite://${join(this.dir, 'shared.db')}`;
  }

  seed(): void {
    const [program, ...args] = COMMANDS.node.seed;
    const seeded = spawnSync(program, args, {
      env: { ...process.env, DATABASE_URL: this.databaseUrl, JWT_SECRET: this.secret },
      encoding: 'utf8',
    });
    if (seeded.status !== 0) throw new Error(`seeding failed: ${seeded.stderr}`);
  }

  token(userId: string): string {
    return jwt.sign({ userId }, this.secret, { algorithm: 'HS256', expiresIn: '1h' });
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One Node original process; its log (stderr, one JSON object a line) is kept for assertions. */
export class NodeProcess {
  private child: ChildProcess | null = null;
  log = '';

  private constructor(
    readonly name: string,
    readonly port: number,
  ) {}

  /** Spawns it with REDIS_URL set to `redisUrl` (unset when null); resolves once it listens. */
  static async start(name: string, shared: SharedState, redisUrl: string | null): Promise<NodeProcess> {
    const node = new NodeProcess(name, await freePort());
    const [program, ...args] = COMMANDS.node.serve;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(node.port),
      HOST: '127.0.0.1',
      JWT_SECRET: shared.secret,
      DATABASE_URL: shared.databaseUrl,
    };
    delete env.REDIS_URL;
    if (redisUrl) env.REDIS_URL = redisUrl;
    node.child = track(spawn(program, args, { env, stdio: ['ignore', 'ignore', 'pipe'] }));
    node.child.stderr?.setEncoding('utf8');
    node.child.stderr?.on('data', (chunk: string) => {
      node.log += chunk;
    });
    await until(`${name} listening`, 15_000, () => node.health().catch(() => undefined));
    return node;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async health(): Promise<Health> {
    const response = await fetch(`${this.url}/health`);
    if (response.status !== 200) throw new Error(`/health answered ${response.status}`);
    return (await response.json()) as Health;
  }

  /** Resolves once /health reports the adapter in `state`. */
  waitForAdapter(state: AdapterHealth['state'], timeoutMs: number): Promise<Health> {
    return until(`${this.name}'s adapter ${state}`, timeoutMs, async () => {
      const health = await this.health().catch(() => undefined);
      return health?.adapter?.state === state ? health : undefined;
    });
  }

  /** How many log lines carry exactly this message. */
  logged(message: string): number {
    return this.log.split('\n').filter((line) => {
      try {
        return (JSON.parse(line) as { message: string }).message === message;
      } catch {
        return false; // the last line, still being written
      }
    }).length;
  }

  async http(method: string, path: string, token: string, body: unknown): Promise<Response> {
    return fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  async stop(): Promise<void> {
    await killAndWait(this.child, 'SIGTERM');
    this.child = null;
  }
}
