// The Node original as a cluster (issue #13): two processes sharing a real redis-server, an
// SQLite file and a JWT secret, reached by real socket.io-client clients. Cross-node delivery of
// every kind of push, and the faults: Redis killed and restarted, frozen for 10 s, down while a
// node starts. The tests run in order and share the processes; every one is stopped by its pid.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'http';
import type { AddressInfo } from 'net';
import { Server } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import { NodeProcess, RedisProcess, SharedState } from './cluster-processes';
import { parseRedisUrl, RedisCluster } from '../src/socket/cluster';

const ADMIN = 'admin-1';
const USER = 'user-1';

function connectClient(node: NodeProcess, token: string): Promise<Socket> {
  const socket = io(node.url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  return new Promise((done, fail) => {
    socket.once('connect', () => done(socket));
    socket.once('connect_error', (error) => fail(error));
  });
}

function nextEvent(
  socket: Socket,
  event: string,
  timeoutMs: number,
  matches: (arg: any) => boolean = () => true,
): Promise<any> {
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      socket.off(event, listener);
      fail(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (arg: unknown) => {
      if (!matches(arg)) return;
      clearTimeout(timer);
      socket.off(event, listener);
      done(arg);
    };
    socket.on(event, listener);
  });
}

/** Joins `user:<id>` and `status-updates`; the server handles a socket's events in order, so
 * `status:current` arriving means both rooms were joined. */
async function subscribeAll(socket: Socket): Promise<void> {
  const current = nextEvent(socket, 'status:current', 5_000);
  socket.emit('subscribe:notifications');
  socket.emit('subscribe:status');
  await current;
}

let probes = 0;

/** PUT /api/v1/status/<service> on `node`, status `up`; the service is unique, to be recognised
 * on arrival (the API takes only the statuses the page knows). */
async function putStatus(node: NodeProcess, shared: SharedState): Promise<string> {
  const service = `probe-${++probes}`;
  const response = await node.http('PUT', `/api/v1/status/${service}`, shared.token(ADMIN), { status: 'up' });
  assert.equal(response.status, 200);
  return service;
}

describe('Node original cluster over Redis', { timeout: 90_000 }, () => {
  const shared = new SharedState();
  let redis: RedisProcess;
  let a: NodeProcess;
  let b: NodeProcess;
  const nodes: NodeProcess[] = [];
  const sockets: Socket[] = [];
  // user-1 on B (status and notifications), an admin on A (status), user-2 on A (status).
  let userOnB: Socket;
  let adminOnA: Socket;
  let localOnA: Socket;

  before(async () => {
    shared.seed();
    redis = await RedisProcess.create(shared.dir);
    await redis.start();
    a = await NodeProcess.start('a', shared, redis.url);
    nodes.push(a);
    b = await NodeProcess.start('b', shared, redis.url);
    nodes.push(b);
    await Promise.all([a.waitForAdapter('connected', 5_000), b.waitForAdapter('connected', 5_000)]);
    userOnB = await connectClient(b, shared.token(USER));
    adminOnA = await connectClient(a, shared.token(ADMIN));
    localOnA = await connectClient(a, shared.token('user-2'));
    sockets.push(userOnB, adminOnA, localOnA);
    await Promise.all(sockets.map(subscribeAll));
  });

  after(async () => {
    for (const socket of sockets) socket.disconnect();
    await Promise.allSettled(nodes.map((node) => node.stop()));
    await redis?.dispose();
    shared.dispose();
  });

  test('/health reports the adapter; without REDIS_URL there is no adapter field', async () => {
    const health = await a.health();
    assert.deepEqual(health.adapter, { kind: 'redis', state: 'connected', lost: 0 });
    assert.equal(health.status, 'ok');
    const alone = await NodeProcess.start('alone', shared, null);
    nodes.push(alone);
    try {
      const plain = await alone.health();
      assert.deepEqual(Object.keys(plain).sort(), ['connections', 'status']);
      assert.equal(alone.logged('connected to Redis; cross-node delivery on'), 0);
    } finally {
      await alone.stop();
    }
  });

  test('a status broadcast from node A is heard by a client on node B', async () => {
    // Over HTTP on A...
    const service = `probe-${probes + 1}`;
    const heard = nextEvent(userOnB, 'service:status', 2_000, (update) => update.service === service);
    await putStatus(a, shared);
    assert.equal((await heard).status, 'up');
    // ...and from a socket on A: admin:refresh-status.
    const refreshing = nextEvent(userOnB, 'status:refreshing', 2_000);
    adminOnA.emit('admin:refresh-status');
    await refreshing;
  });

  test('an HTTP push on node A reaches the user connected on node B', async () => {
    const pushed = nextEvent(userOnB, 'notification:new', 2_000);
    const response = await a.http('POST', '/api/v1/notifications', shared.token(ADMIN), {
      userId: USER,
      title: 'Cross-node',
      message: 'Sent on A, delivered on B.',
    });
    assert.equal(response.status, 201);
    assert.equal((await pushed).title, 'Cross-node');
  });

  test('a burst of 20 000 broadcasts, 256 at a time, reaches the other node: none lost', async () => {
    // In this process, the module under test as the server wires it: node X emits, node Y's
    // client listens, through the same redis-server.
    const TOTAL = 20_000;
    const node = () => {
      const cluster = new RedisCluster(parseRedisUrl(redis.url));
      const http = createServer();
      const server = new Server(http);
      server.adapter(cluster.adapter());
      return { cluster, http, server };
    };
    const x = node();
    const y = node();
    try {
      await new Promise<void>((done) => y.http.listen(0, '127.0.0.1', done));
      y.server.on('connection', (socket) => socket.join('burst'));
      while (x.cluster.health().state !== 'connected' || y.cluster.health().state !== 'connected') {
        await new Promise((r) => setTimeout(r, 20));
      }
      const { port } = y.http.address() as AddressInfo;
      const client = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true });
      sockets.push(client);
      await new Promise<void>((done) => client.once('connect', () => done()));
      let received = 0;
      const all = new Promise<void>((done) =>
        client.on('burst', () => {
          if (++received === TOTAL) done();
        }),
      );
      for (let i = 0; i < TOTAL; i += 256) {
        for (let j = i; j < Math.min(TOTAL, i + 256); j++) x.server.to('burst').emit('burst', j);
        await new Promise((r) => setImmediate(r));
      }
      await Promise.race([all, new Promise((r) => setTimeout(r, 10_000))]);
      assert.equal(received, TOTAL);
      assert.equal(x.cluster.health().lost, 0);
      client.disconnect();
    } finally {
      for (const { cluster, server } of [x, y]) {
        await new Promise((done) => server.close(done));
        await cluster.close();
      }
    }
  });

  test('Redis frozen 10 s: local delivery goes on, cross-node delivery arrives after SIGCONT', async () => {
    redis.freeze();
    try {
      const frozenAt = Date.now();
      // The publish waits in the socket; the local delivery must not wait for it.
      const service = `probe-${probes + 1}`;
      const local = nextEvent(localOnA, 'service:status', 1_000, (update) => update.service === service);
      const remote = nextEvent(userOnB, 'service:status', 20_000, (update) => update.service === service);
      remote.catch(() => undefined);
      await putStatus(a, shared);
      await local;
      // Still so near the end of the freeze; /health answers 200 throughout.
      while (Date.now() - frozenAt < 9_000) {
        await new Promise((r) => setTimeout(r, 1_000));
        assert.equal((await a.health()).status, 'ok');
      }
      const late = `probe-${probes + 1}`;
      const lateLocal = nextEvent(localOnA, 'service:status', 1_000, (update) => update.service === late);
      await putStatus(a, shared);
      await lateLocal;
      while (Date.now() - frozenAt < 10_000) await new Promise((r) => setTimeout(r, 50));
      redis.thaw();
      await remote;
      // Nothing was lost: the messages waited in the sockets.
      assert.equal((await a.health()).adapter?.lost, 0);
    } finally {
      redis.thaw();
    }
  });

  test('Redis killed and restarted: reconnecting, then connected, cross-node delivery back within 2 s', async (t) => {
    await redis.kill();
    await Promise.all([a.waitForAdapter('reconnecting', 2_000), b.waitForAdapter('reconnecting', 2_000)]);

    // Down: a client on A still gets A's broadcast; the cross-node copy is counted as lost.
    const service = `probe-${probes + 1}`;
    const local = nextEvent(localOnA, 'service:status', 1_000, (update) => update.service === service);
    await putStatus(a, shared);
    await local;
    const down = await a.health();
    assert.equal(down.status, 'ok');
    assert.ok(down.adapter!.lost >= 1, `lost ${down.adapter!.lost}`);
    await new Promise((r) => setTimeout(r, 1_500)); // several reconnection attempts, one log line

    const restartedAt = await redis.start();
    // Probe every 100 ms until a status put on A reaches B.
    const sent = new Set<string>();
    const heard = nextEvent(userOnB, 'service:status', 2_000, (update) => sent.has(update.service));
    let stop = false;
    const probing = (async () => {
      while (!stop) {
        sent.add(await putStatus(a, shared));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await heard;
    } finally {
      stop = true;
      await probing;
    }
    const resumedMs = Date.now() - restartedAt;
    t.diagnostic(`cross-node delivery resumed ${resumedMs} ms after redis-server was spawned again`);
    assert.ok(resumedMs < 2_000, `cross-node delivery resumed after ${resumedMs} ms`);
    await Promise.all([a.waitForAdapter('connected', 2_000), b.waitForAdapter('connected', 2_000)]);

    // Once per outage, not once per retry; and the processes never restarted.
    for (const node of [a, b]) {
      assert.equal(node.logged('lost the connection to Redis; cross-node delivery paused, local delivery goes on'), 1);
      assert.equal(node.logged('reconnected to Redis; cross-node delivery resumed'), 1);
      assert.ok(node.alive);
    }
    // The sockets stayed connected and in their rooms: an HTTP push on A reaches B.
    const pushed = nextEvent(userOnB, 'notification:new', 2_000);
    const body = { userId: USER, title: 'After', message: 'restart' };
    await a.http('POST', '/api/v1/notifications', shared.token(ADMIN), body);
    assert.equal((await pushed).title, 'After');
  });

  test('a node started while Redis is down reports reconnecting and joins when Redis comes up', async () => {
    await redis.kill();
    const c = await NodeProcess.start('c', shared, redis.url);
    nodes.push(c);
    const early = await c.health();
    assert.equal(early.status, 'ok');
    assert.equal(early.adapter?.state, 'reconnecting');
    const onC = await connectClient(c, shared.token(USER));
    sockets.push(onC);
    await subscribeAll(onC);
    await new Promise((r) => setTimeout(r, 1_000)); // several failed attempts before Redis is back
    assert.equal(c.logged('Redis unreachable; retrying, local clients are served meanwhile'), 1);

    await redis.start();
    await Promise.all([a, b, c].map((node) => node.waitForAdapter('connected', 2_000)));
    assert.equal(c.logged('connected to Redis; cross-node delivery on'), 1);
    // Subscribed: a broadcast from A reaches the client on C, and one from C reaches B.
    const service = `probe-${probes + 1}`;
    const onCHeard = nextEvent(onC, 'service:status', 2_000, (update) => update.service === service);
    await putStatus(a, shared);
    await onCHeard;
    const fromC = `probe-${probes + 1}`;
    const onBHeard = nextEvent(userOnB, 'service:status', 2_000, (update) => update.service === fromC);
    await putStatus(c, shared);
    await onBHeard;
    assert.ok(c.alive);
  });
});
