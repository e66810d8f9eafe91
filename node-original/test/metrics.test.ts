// GET /metrics on both servers: the text format parses, the same counters move with a handshake
// accepted and one refused, events and a rate-limited event; the token guards it and never
// reaches the log; an open endpoint is said once at start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io, type Socket } from 'socket.io-client';
import { TestServer, type Kind } from './servers';

const TOKEN = 'node-test-metrics-token-0123';

/** Each sample's value under its series as written (`name{label="value"}`); throws on a bad line. */
function parse(text: string): Map<string, number> {
  const declared = new Set<string>();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|info|unknown)$/.exec(line);
    if (type) {
      declared.add(type[1]);
      continue;
    }
    if (/^# (HELP|UNIT) [a-zA-Z_:][a-zA-Z0-9_:]* ?/.test(line) || line === '# EOF') continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    assert.ok(sample, `not a sample line: ${line}`);
    const family = [...declared].find((name) =>
      [name, `${name}_total`, `${name}_bucket`, `${name}_sum`, `${name}_count`].includes(sample[1]),
    );
    assert.ok(family, `${sample[1]} has no # TYPE line before it`);
    const series = sample[1] + (sample[2] ?? '');
    assert.ok(!samples.has(series), `${series} twice`);
    samples.set(series, Number(sample[3]));
  }
  return samples;
}

async function scrape(server: TestServer, token?: string): Promise<Response> {
  return fetch(`${server.url}/metrics`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
}

async function samples(server: TestServer): Promise<Map<string, number>> {
  const response = await scrape(server, TOKEN);
  assert.equal(response.status, 200);
  return parse(await response.text());
}

function connect(server: TestServer, token: string): Socket {
  return io(server.url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
}

function once(socket: Socket, event: string): Promise<unknown[]> {
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`no ${event}`)), 10_000);
    socket.once(event, (...args: unknown[]) => {
      clearTimeout(timer);
      done(args);
    });
  });
}

for (const kind of ['rust', 'node'] as Kind[]) {
  test(`${kind}: /metrics counts handshakes, events and rate limits, behind the token`, async () => {
    const server = await TestServer.create(kind, {
      env: { METRICS_TOKEN: TOKEN, RATE_LIMIT_EVENTS: '2', RATE_LIMIT_WINDOW_MS: '60000' },
    });
    const sockets: Socket[] = [];
    try {
      assert.equal((await scrape(server)).status, 401);
      assert.equal((await scrape(server, `${TOKEN}x`)).status, 401);
      const before = await samples(server);
      assert.equal(before.get('realtime_handshakes_accepted_total'), 0);
      assert.ok((before.get('process_resident_memory_bytes') ?? 0) > 1e6);

      const client = connect(server, server.token('user-1'));
      sockets.push(client);
      await once(client, 'connect');
      const forged = connect(server, `${server.token('user-1')}x`);
      sockets.push(forged);
      const [refusal] = await once(forged, 'connect_error');
      assert.equal((refusal as Error).message, 'Authentication failed');
      const limited = once(client, 'error');
      for (let i = 0; i < 3; i += 1) client.emit('subscribe:status');
      assert.deepEqual((await limited)[0], { message: 'Rate limit exceeded', event: 'subscribe:status' });

      const after = await samples(server);
      const expected: [string, number][] = [
        ['realtime_handshakes_accepted_total', 1],
        ['realtime_handshakes_refused_total{reason="invalid_token"}', 1],
        ['realtime_events_received_total{event="subscribe:status"}', 3],
        ['realtime_events_rate_limited_total{event="subscribe:status"}', 1],
        ['realtime_emits_total{event="error"}', 1],
        ['realtime_connected_sockets{transport="websocket"}', 1],
        ['realtime_database_up', 1],
      ];
      for (const [series, value] of expected) assert.equal(after.get(series), value, series);
    } finally {
      for (const socket of sockets) socket.close();
      await server.stop();
    }
    const log = server.output();
    await server.dispose();
    assert.ok(log.includes('socket authentication refused'), `the log has the refusal:\n${log}`);
    assert.ok(!log.includes(TOKEN), 'the metrics token is in the log');
  });

  test(`${kind}: without METRICS_TOKEN, /metrics is open and the start-up log says so once`, async () => {
    const server = await TestServer.create(kind);
    try {
      assert.equal((await scrape(server)).status, 200);
      assert.equal(server.output().split('GET /metrics is open').length - 1, 1, server.output());
    } finally {
      await server.dispose();
    }
  });
}
