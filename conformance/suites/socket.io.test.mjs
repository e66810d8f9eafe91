// Socket.IO v5 conformance (over Engine.IO v4): what the upstream socket.io-protocol test suite
// checks, case by case, against the server its README configures on `/socket.io/` (run.mjs
// starts it: ours, conformance-server socket-io, or the official socket.io 4.8): namespaces `/`
// and `/custom` echo their auth as `auth`; on `/`, `message` comes back as `message-back`,
// `message-with-ack` is acknowledged with its own arguments, and `emit-with-ack` (socketioxide's
// addition) comes back with an ack request whose answer is emitted again. Why our own suite and
// not upstream's: docs/compatibility.md ("Protocol conformance suites").
//
// Upstream sources: S = socketio/socket.io-protocol test-suite/test-suite.js (mocha);
// X = Totodore/socketioxide e2e/socketioxide/test-suites/v5.ts (the copy socketioxide's CI runs).
//
// | upstream case                                                         | here                                   |
// | --------------------------------------------------------------------- | -------------------------------------- |
// | Engine.IO protocol / handshake, heartbeat, close, upgrade (S, X)      | engine-io-cases.mjs on /socket.io/ (its table: engine.io.test.mjs; no message cases, as upstream) |
// | connect / should allow connection to the main namespace               | same name                              |
// | connect / ... to the main namespace with a payload                    | same name                              |
// | connect / ... to a custom namespace                                   | same name                              |
// | connect / ... to a custom namespace with a payload                    | same name                              |
// | connect / should disallow connection to an unknown namespace          | same name                              |
// | connect / should disallow connection with an invalid handshake        | same name                              |
// | connect / should close the connection if no handshake is received (S) | same name, pings answered (see below)  |
// | disconnect / should disconnect from the main namespace                | same name (see below)                  |
// | disconnect / should connect then disconnect from a custom namespace   | same name                              |
// | acknowledgements / should emit with an ack expectation (X)            | same name, ack id read (see below)     |
// | acknowledgements / should emit with a binary ack expectation (X)      | same name, ack id read                 |
// | message / should send a plain-text packet                             | same name                              |
// | message / should send a packet with binary attachments                | same name (S's and X's arguments)      |
// | message / should send a plain-text packet with an ack                 | same name                              |
// | message / should send a packet with binary attachments and an ack     | same name (S's and X's arguments)      |
// | message / ... invalid format (unknown packet type)                    | same name                              |
// | message / ... invalid format (invalid payload format)                 | same name                              |
// | message / ... invalid format (invalid ack id)                         | same name                              |
//
// Differences in form, and why (besides engine-io-cases.mjs's, which apply here too):
// - "no handshake is received": upstream leaves the pings unanswered, so the heartbeat closes
//   the connection after 500 ms whatever the connect timeout does; here the pings are answered,
//   so only the server's connect timeout (1 s) can close it.
// - "disconnect from the main namespace": S expects the next message to be a ping (the Engine.IO
//   connection outlives its last namespace), X a close, which comes only because X answers no
//   ping (socketioxide keeps the connection too, and pings it). Here, as S, the connection stays
//   up, with nothing but pings (answered) for 700 ms. Not checked, because the servers differ and
//   upstream does not ask: an event sent to `/` after leaving it is ignored by socket.io, while
//   socketioxide closes the connection (docs/compatibility.md).
// - Acks the server requests: X expects the id 1 (socketioxide counts from 1 per socket), the
//   official server counts from 0 per namespace; the id is the server's choice, so the case
//   reads it and answers with it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import { describeEngineIo } from "./engine-io-cases.mjs";
import { Endpoint, bytes, sleep } from "./lib.mjs";

describeEngineIo({ path: "/socket.io/", echo: false });

const endpoint = new Endpoint("/socket.io/");

/** Asserts a CONNECT answer for `prefix` (`40` or `40/custom,`): exactly `{"sid": string}`. */
function assertConnected(packet, prefix) {
  assert.ok(packet.startsWith(prefix), `expected a CONNECT for ${prefix}, got ${packet}`);
  const handshake = JSON.parse(packet.slice(prefix.length));
  assert.deepEqual(Object.keys(handshake), ["sid"]);
  assert.equal(typeof handshake.sid, "string");
}

/** A websocket connected to `/`, past its `auth` event. */
async function connectMain() {
  const client = await endpoint.open();
  client.send("40");
  assertConnected(await client.nextData("the CONNECT answer"), "40");
  assert.equal(await client.nextData("the auth event"), '42["auth",{}]');
  return client;
}

/**
 * Asserts that `client` stays open for `ms` and gets nothing but pings (answered), at least one:
 * the Engine.IO connection is alive and nothing else is sent on it.
 */
async function assertOnlyPings(client, ms, why) {
  const until = Date.now() + ms;
  let pings = 0;
  while (Date.now() < until) {
    assert.ok(!client.closed, `the connection closed (${why})`);
    await sleep(20);
    while (client.messages.length > 0) {
      const message = client.messages.shift();
      assert.equal(message, "2", `${why}, yet got ${JSON.stringify(message)}`);
      client.send("3");
      pings++;
    }
  }
  assert.ok(pings > 0, `no ping in ${ms} ms (${why})`);
}

const PLACEHOLDERS = '{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}';

describe("Socket.IO protocol", () => {
  describe("connect", () => {
    /** Sends `packet` and asserts the CONNECT answer and the auth event echoing `auth`. */
    async function assertConnects(packet, prefix, eventPrefix, auth) {
      const client = await endpoint.open();
      client.send(packet);
      assertConnected(await client.nextData("the CONNECT answer"), prefix);
      assert.equal(await client.nextData("the auth event"), `${eventPrefix}["auth",${auth}]`);
      client.close();
    }

    it("should allow connection to the main namespace", async () => {
      await assertConnects("40", "40", "42", "{}");
    });

    it("should allow connection to the main namespace with a payload", async () => {
      await assertConnects('40{"token":"123"}', "40", "42", '{"token":"123"}');
    });

    it("should allow connection to a custom namespace", async () => {
      await assertConnects("40/custom,", "40/custom,", "42/custom,", "{}");
    });

    it("should allow connection to a custom namespace with a payload", async () => {
      await assertConnects('40/custom,{"token":"abc"}', "40/custom,", "42/custom,", '{"token":"abc"}');
    });

    it("should disallow connection to an unknown namespace", async () => {
      const client = await endpoint.open();
      client.send("40/random");
      assert.equal(await client.nextData("the CONNECT_ERROR"), '44/random,{"message":"Invalid namespace"}');
      client.close();
    });

    it("should disallow connection with an invalid handshake", async () => {
      const client = await endpoint.open();
      client.send("4abc");
      await client.waitCloseAnsweringPings("an invalid packet");
    });

    it("should close the connection if no handshake is received", async () => {
      const client = await endpoint.open();
      await client.waitCloseAnsweringPings("no CONNECT within the connect timeout");
    });
  });

  describe("disconnect", () => {
    it("should disconnect from the main namespace", async () => {
      const client = await connectMain();
      client.send("41");
      await assertOnlyPings(client, 700, "after a DISCONNECT from /");
      client.close();
    });

    it("should connect then disconnect from a custom namespace", async () => {
      const client = await connectMain();
      client.send("40/custom");
      assertConnected(await client.nextData("the CONNECT answer for /custom"), "40/custom,");
      assert.equal(await client.nextData("the auth event for /custom"), '42/custom,["auth",{}]');
      client.send("41/custom");
      client.send('42["message","message to main namespace"]');
      assert.equal(await client.nextData("the echo on /"), '42["message-back","message to main namespace"]');
      client.close();
    });
  });

  describe("acknowledgements", () => {
    /** Reads an EVENT or BINARY_EVENT with an ack id: `[id, the packet with the id left out]`. */
    function splitAckId(packet, head) {
      const match = new RegExp(`^${head}(\\d+)\\[`).exec(packet);
      assert.ok(match, `expected ${head}<ack id>[...], got ${packet}`);
      return [match[1], `${head}${packet.slice(match[0].length - 1)}`];
    }

    it("should emit with an ack expectation", async () => {
      const client = await connectMain();
      client.send('42["emit-with-ack",1,"2",{"3":[true]}]');
      const [id, rest] = splitAckId(await client.nextData("the event with an ack request"), "42");
      assert.equal(rest, '42["emit-with-ack",1,"2",{"3":[true]}]');
      client.send(`43${id}[1,"2",{"3":[true]}]`);
      assert.equal(await client.nextData("the ack's arguments"), '42["emit-with-ack",1,"2",{"3":[true]}]');
      client.close();
    });

    it("should emit with a binary ack expectation", async () => {
      const client = await connectMain();
      const data = `${PLACEHOLDERS},"test"`;
      client.send(`452-["emit-with-ack",${data}]`);
      client.send(Uint8Array.from([1, 2, 3]));
      client.send(Uint8Array.from([4, 5, 6]));
      let [header, first, second] = await client.nextDataMany(3, "the binary event with an ack request");
      const [id, rest] = splitAckId(header, "452-");
      assert.equal(rest, `452-["emit-with-ack",${data}]`);
      assert.deepEqual(bytes(first), [1, 2, 3]);
      assert.deepEqual(bytes(second), [4, 5, 6]);

      client.send(`462-${id}[${data}]`);
      client.send(Uint8Array.from([1, 2, 3]));
      client.send(Uint8Array.from([4, 5, 6]));
      [header, first, second] = await client.nextDataMany(3, "the binary ack's arguments");
      assert.equal(header, `452-["emit-with-ack",${data}]`);
      assert.deepEqual(bytes(first), [1, 2, 3]);
      assert.deepEqual(bytes(second), [4, 5, 6]);
      client.close();
    });
  });

  describe("message", () => {
    it("should send a plain-text packet", async () => {
      const client = await connectMain();
      client.send('42["message",1,"2",{"3":[true]}]');
      assert.equal(await client.nextData("the echo"), '42["message-back",1,"2",{"3":[true]}]');
      client.close();
    });

    /** Sends a BINARY_EVENT (`sent`, two attachments) and expects `expected` with them back. */
    async function assertBinaryRoundTrip(sent, expected) {
      const client = await connectMain();
      client.send(sent);
      client.send(Uint8Array.from([1, 2, 3]));
      client.send(Uint8Array.from([4, 5, 6]));
      const [header, first, second] = await client.nextDataMany(3, "the binary answer");
      assert.equal(header, expected);
      assert.deepEqual(bytes(first), [1, 2, 3]);
      assert.deepEqual(bytes(second), [4, 5, 6]);
      client.close();
    }

    it("should send a packet with binary attachments", async () => {
      // S's arguments, then X's (a plain argument before the attachments).
      await assertBinaryRoundTrip(`452-["message",${PLACEHOLDERS}]`, `452-["message-back",${PLACEHOLDERS}]`);
      await assertBinaryRoundTrip(`452-["message",1,${PLACEHOLDERS}]`, `452-["message-back",1,${PLACEHOLDERS}]`);
    });

    it("should send a plain-text packet with an ack", async () => {
      const client = await connectMain();
      client.send('42456["message-with-ack",1,"2",{"3":[false]}]');
      assert.equal(await client.nextData("the ack"), '43456[1,"2",{"3":[false]}]');
      client.close();
    });

    it("should send a packet with binary attachments and an ack", async () => {
      await assertBinaryRoundTrip(`452-789["message-with-ack",${PLACEHOLDERS}]`, `462-789[${PLACEHOLDERS}]`);
      await assertBinaryRoundTrip(`452-789["message-with-ack",1,${PLACEHOLDERS}]`, `462-789[1,${PLACEHOLDERS}]`);
    });

    /** Connected to `/`, sends `packet` and expects the server to close the connection. */
    async function assertClosedBy(packet) {
      const client = await connectMain();
      client.send(packet);
      await client.waitCloseAnsweringPings(`the invalid packet ${packet}`);
    }

    it("should close the connection upon invalid format (unknown packet type)", async () => {
      await assertClosedBy("4abc");
    });

    it("should close the connection upon invalid format (invalid payload format)", async () => {
      await assertClosedBy("42{}");
    });

    it("should close the connection upon invalid format (invalid ack id)", async () => {
      await assertClosedBy('42abc["message-with-ack",1,"2",{"3":[false]}]');
    });
  });
});
