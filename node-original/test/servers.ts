// Starts either server on a free loopback port with a fresh database loaded with the shared
// fixtures, and stops it by its pid.
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { createServer } from 'net';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { dirname, join, resolve } from 'path';
import { randomBytes } from 'crypto';
import jwt from 'jsonwebtoken';

/** The repository root, found upwards: this file runs compiled (node:test) and as source (page/'s Playwright tests). */
function repositoryRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'Cargo.toml'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no Cargo.toml above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

const ROOT = repositoryRoot();
const FIXTURES = join(ROOT, 'scenarios/fixtures.sql');

export type Kind = 'rust' | 'node';

// The debug build, where `cargo build` puts it (honouring CARGO_TARGET_DIR, as cargo does).
const RUST_SERVER = join(resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target'), 'debug/realtime-server');

export const COMMANDS: Record<Kind, { serve: string[]; seed: string[] }> = {
  rust: {
    serve: [RUST_SERVER, 'serve'],
    seed: [RUST_SERVER, 'db', 'seed', FIXTURES],
  },
  node: {
    serve: [process.execPath, join(ROOT, 'node-original/dist/src/index.js')],
    seed: [process.execPath, join(ROOT, 'node-original/dist/src/db/seed.js'), FIXTURES],
  },
};

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => done(port));
    });
  });
}

export class TestServer {
  private child: ChildProcess | null = null;
  readonly secret = randomBytes(32).toString('hex');
  private readonly dir = mkdtempSync(join(tmpdir(), 'socket-client-test-'));
  /** Where the server's stdout and stderr go, appended over every start. */
  readonly logPath: string;

  private constructor(
    readonly kind: Kind,
    readonly port: number,
    logPath: string | undefined,
    private readonly extraEnv: Record<string, string>,
  ) {
    this.logPath = logPath ?? join(this.dir, 'server.log');
  }

  /**
   * `logPath`: where to keep the server's output; by default in its temporary directory, which
   * `dispose` removes. `env`: settings beside the defaults (METRICS_TOKEN, RATE_LIMIT_EVENTS...).
   */
  static async create(kind: Kind, options: { logPath?: string; env?: Record<string, string> } = {}): Promise<TestServer> {
    const server = new TestServer(kind, await freePort(), options.logPath, options.env ?? {});
    mkdirSync(dirname(server.logPath), { recursive: true });
    rmSync(server.logPath, { force: true });
    const [program, ...args] = COMMANDS[kind].seed;
    const seeded = spawnSync(program, args, { env: server.env(), encoding: 'utf8' });
    if (seeded.status !== 0) throw new Error(`seeding failed: ${seeded.stderr}`);
    await server.start();
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  token(userId: string): string {
    return jwt.sign({ userId }, this.secret, { algorithm: 'HS256', expiresIn: '1h' });
  }

  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PORT: String(this.port),
      HOST: '127.0.0.1',
      JWT_SECRET: this.secret,
      DATABASE_URL: `sqlite://${join(this.dir, 'test.db')}`,
      RUST_LOG: 'warn',
      ...this.extraEnv,
    };
  }

  async start(): Promise<void> {
    const [program, ...args] = COMMANDS[this.kind].serve;
    const log = openSync(this.logPath, 'a');
    try {
      this.child = spawn(program, args, { env: this.env(), stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      try {
        const response = await fetch(`${this.url}/health`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    // Stopped, not left running: no caller stops a server whose start failed.
    await this.stop();
    throw new Error(`${this.kind} server did not start on port ${this.port}`);
  }

  /** SIGTERM by pid, and wait for the exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((done) => {
      child.once('exit', () => done());
      child.kill('SIGTERM');
    });
  }

  /** What the server wrote, over every start so far. */
  output(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
