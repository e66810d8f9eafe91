// The seed's browser SocketClient against both servers: it connects and authenticates, and after
// a server restart it reconnects by itself and subscribes again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SocketClient } from '../src/client/socket-client';
import { TestServer, type Kind } from './servers';

function next(client: SocketClient, event: string, timeoutMs = 10_000): Promise<unknown[]> {
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    client.on(event, (...args: unknown[]) => {
      clearTimeout(timer);
      done(args);
    });
  });
}

for (const kind of ['rust', 'node'] as Kind[]) {
  test(`${kind}: the client connects, authenticates and subscribes`, async () => {
    const server = await TestServer.create(kind);
    const client = new SocketClient(server.url);
    try {
      client.connect(server.token('user-1'));
      const [statuses] = await next(client, 'status:current');
      assert.deepEqual(
        (statuses as { service: string }[]).map((s) => s.service),
        ['jellyfin', 'plex', 'sonarr'],
      );
    } finally {
      client.disconnect();
      await server.dispose();
    }
  });

  test(`${kind}: a refused token never connects`, async () => {
    const server = await TestServer.create(kind);
    const client = new SocketClient(server.url);
    try {
      client.connect(server.token('user-3'));
      const [error] = await next(client, 'connect_error');
      assert.equal((error as Error).message, 'User not found or inactive');
    } finally {
      client.disconnect();
      await server.dispose();
    }
  });

  test(`${kind}: after a restart the client reconnects and re-subscribes`, async () => {
    const server = await TestServer.create(kind);
    const client = new SocketClient(server.url);
    try {
      client.connect(server.token('user-1'));
      await next(client, 'status:current');
      const disconnected = next(client, 'disconnect');
      await server.stop();
      assert.equal((await disconnected)[0], 'transport close');

      const resubscribed = next(client, 'status:current', 20_000);
      await server.start();
      await resubscribed;

      // Both rooms were joined again: a pushed notification arrives.
      const pushed = next(client, 'notification:new');
      const response = await fetch(`${server.url}/api/v1/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.token('admin-1')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'user-1', title: 'Back', message: 'Reconnected.' }),
      });
      assert.equal(response.status, 201);
      const [notification] = await pushed;
      assert.equal((notification as { title: string }).title, 'Back');
    } finally {
      client.disconnect();
      await server.dispose();
    }
  });
}
