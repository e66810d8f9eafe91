// What the conformance suites share: the server under test (CONFORMANCE_URL, set by run.mjs),
// the configuration its handshake must announce, HTTP long-polling requests, and a websocket
// client whose messages are awaited one at a time, each wait bounded.
//
// Where the upstream suites wait for a message with no bound (mocha's timeout ends the test),
// these waits fail with what was expected and what came instead, so a red case says why.
import assert from "node:assert/strict";
import WebSocket from "ws";

const base = process.env.CONFORMANCE_URL;
if (!base) {
  throw new Error("CONFORMANCE_URL is not set: run the suites through run.mjs (node conformance/suites/run.mjs --help)");
}
/** `http://127.0.0.1:PORT` of the server under test. */
export const URL_BASE = base.replace(/\/$/, "");
export const WS_BASE = URL_BASE.replace(/^http/, "ws");

/** The configuration the upstream suites require of the server (their READMEs). */
export const PING_INTERVAL = 300;
export const PING_TIMEOUT = 200;
export const MAX_PAYLOAD = 1_000_000;

/** How long any single wait lasts before the case fails: several heartbeats. */
const WAIT_MS = 3_000;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Engine.IO's record separator between the packets of a long-polling payload. */
export const SEPARATOR = "\x1e";

/**
 * Requests on one Engine.IO path (`/engine.io/` or `/socket.io/`): the query is EIO=4 and the
 * transport unless a case overrides them, and every answer is read whole.
 */
export class Endpoint {
  constructor(path) {
    this.path = path;
  }

  url(query = "EIO=4&transport=polling") {
    return `${URL_BASE}${this.path}?${query}`;
  }

  wsUrl(query = "EIO=4&transport=websocket") {
    return `${WS_BASE}${this.path}?${query}`;
  }

  /** A request with its status and body text; `{ failed }` if the server cut the connection. */
  async request(url, init = {}) {
    try {
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(WAIT_MS) });
      return { status: response.status, body: await response.text() };
    } catch (error) {
      return { failed: error };
    }
  }

  /** Opens a long-polling session: the asserted open packet's fields. */
  async openPolling() {
    const { status, body } = await this.request(this.url());
    assert.equal(status, 200, `handshake answered ${status}: ${body}`);
    assert.equal(body[0], "0", `handshake is not an open packet: ${body}`);
    return JSON.parse(body.slice(1));
  }

  get(sid, extra = "") {
    return this.request(this.url(`EIO=4&transport=polling&sid=${sid}${extra}`));
  }

  post(sid, body) {
    return this.request(this.url(`EIO=4&transport=polling&sid=${sid}`), { method: "POST", body });
  }

  /**
   * The next poll's packets other than pings, each ping answered with a pong so the session
   * stays up (when a server sends its first ping is its own choice: engineioxide at once, the
   * Node server after one interval). Polls again while a payload held only pings.
   */
  async pollData(sid) {
    for (;;) {
      const { status, body, failed } = await this.get(sid);
      assert.ok(!failed, `poll failed: ${failed}`);
      assert.equal(status, 200, `poll answered ${status}: ${body}`);
      const packets = body.split(SEPARATOR);
      const data = packets.filter((packet) => packet !== "2");
      if (data.length < packets.length) {
        const pong = await this.post(sid, "3");
        assert.equal(pong.status, 200, `pong answered ${pong.status}: ${pong.body}`);
      }
      if (data.length > 0) return data;
    }
  }

  /** Opens a websocket on this path and reads its open packet (its fields: `openPacket`). */
  async open() {
    const client = this.connect();
    const open = await client.next("the open packet");
    assert.equal(open[0], "0", `not an open packet: ${open}`);
    client.openPacket = JSON.parse(open.slice(1));
    return client;
  }

  /** Opens a websocket on this path. */
  connect(query) {
    return new Client(this.wsUrl(query));
  }
}

/** A websocket whose messages (strings, or ArrayBuffers for binary frames) queue in order. */
export class Client {
  constructor(url) {
    this.messages = [];
    this.waiters = [];
    this.closed = false;
    this.refusal = null;
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("close", () => reject(new Error(`closed before opening (${this.refusal ?? "no answer"})`)));
    });
    // Awaited by the cases that expect a refusal; never an unhandled rejection otherwise.
    this.opened.catch(() => {});
    this.ws.on("unexpected-response", (_request, response) => {
      this.refusal = response.statusCode;
      response.resume();
      this.ws.terminate();
    });
    this.ws.on("error", () => {}); // a refused upgrade or a cut connection: seen as "close"
    this.ws.on("message", (data, isBinary) => {
      this.messages.push(isBinary ? data : data.toString());
      this.wake();
    });
    this.ws.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  wake() {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** Resolves at the next message or close, or after WAIT_MS; true if something happened. */
  change() {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), WAIT_MS);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** The next message, whatever it is. */
  async next(what = "a message") {
    while (this.messages.length === 0) {
      assert.ok(!this.closed, `closed while waiting for ${what}`);
      assert.ok(await this.change(), `no ${what} within ${WAIT_MS} ms`);
    }
    return this.messages.shift();
  }

  /** The next message other than a ping; pings are answered with a pong on the way. */
  async nextData(what = "a message") {
    for (;;) {
      const message = await this.next(what);
      if (message !== "2") return message;
      this.send("3");
    }
  }

  /** The next `count` messages other than pings. */
  async nextDataMany(count, what) {
    const messages = [];
    while (messages.length < count) messages.push(await this.nextData(what));
    return messages;
  }

  /** Waits for the server to close the connection (or refuse it); fails after WAIT_MS. */
  async waitClose(why) {
    while (!this.closed) {
      assert.ok(await this.change(), `still open ${WAIT_MS} ms later; expected a close (${why})`);
    }
  }

  /**
   * Waits for the server to close the connection while keeping the heartbeat up (every ping
   * answered), so that a close is the server's decision and not a ping timeout. Before closing,
   * a server may send an Engine.IO close packet (engineioxide does; Node's engine.io does not).
   * Fails on any other message, or after WAIT_MS.
   */
  async waitCloseAnsweringPings(why) {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      assert.ok(Date.now() < deadline, `still open ${WAIT_MS} ms later, pings answered; expected a close (${why})`);
      while (this.messages.length > 0) {
        const message = this.messages.shift();
        assert.ok(["1", "2"].includes(message), `expected only pings before the close (${why}), got ${JSON.stringify(message)}`);
        if (message === "2") this.send("3");
      }
      if (this.closed) return;
      assert.ok(await this.change(), `still open ${WAIT_MS} ms later; expected a close (${why})`);
    }
  }

  /** Sends unless the connection is already closed (a pong racing the server's close). */
  send(data) {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(data);
  }

  close() {
    this.ws.close();
  }
}

/** Bytes of an ArrayBuffer (or Buffer), for comparing binary frames. */
export const bytes = (data) => {
  assert.ok(typeof data !== "string", `expected a binary frame, got the text ${JSON.stringify(data)}`);
  return [...new Uint8Array(data)];
};

/** The open packet's fields, as both upstream suites check them. */
export function assertOpenPacket(open, upgrades) {
  assert.deepEqual(Object.keys(open).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
  assert.equal(typeof open.sid, "string");
  assert.deepEqual(open.upgrades, upgrades);
  assert.equal(open.pingInterval, PING_INTERVAL);
  assert.equal(open.pingTimeout, PING_TIMEOUT);
  assert.equal(open.maxPayload, MAX_PAYLOAD);
}
