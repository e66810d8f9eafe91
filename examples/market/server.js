// A small market-quotes server on the official socket.io 4.8, written as any app would be, to show
// sio-harness on a server that is not ours (examples/market/README.md): a namespace that is not
// `/`, an Engine.IO path that is not `/socket.io/`, JWT scopes, acks, and payloads that carry an
// epoch-milliseconds timestamp that changes on every run.
//
// MARKET_JWT_SECRET (required; the server refuses to start without one): the HS256 secret.
// Socket.IO lives on the path /rt/, namespace /market. Handshake: `auth: {token}`, a JWT with a
// `sub` and a `scope` (space-separated) holding `market:read`. A refusal is a connect_error
// "unauthorized" or "forbidden" whose `data` says why: {reason: "missing token" | "invalid token"
// | "expired token" | "no subject"} or {reason: "missing scope", required: "market:read"}.
//
// On connect the server sends "welcome" {sub, serverTime: Date.now()}.
// Events (client -> server; each takes an acknowledgement callback):
//   subscribe {symbol}            ack {ok: true, symbol} then "quote" {symbol, price, at}, or
//                                 ack {ok: false, error: "unknown symbol"}
//   unsubscribe {symbol}          ack {ok: true, symbol}; no more quotes of it
//   order {symbol, side, qty}     needs scope market:trade; ack {ok: true, id, symbol, side, qty, at}
//                                 or {ok: false, error}
// HTTP: GET /health; POST /quotes {symbol, price} with `Authorization: Bearer <JWT with scope
// market:publish>` sets the price and sends "quote" {symbol, price, at} to its subscribers (202).

'use strict';

const crypto = require('node:crypto');
const http = require('node:http');
const jwt = require('jsonwebtoken');
const { Server } = require('socket.io');

const secret = process.env.MARKET_JWT_SECRET;
if (!secret || secret.length < 16) {
  console.error('MARKET_JWT_SECRET must be set (at least 16 characters); refusing to start');
  process.exit(1);
}
const key = crypto.createSecretKey(Buffer.from(secret, 'utf8'));
const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';

const INITIAL_PRICES = { ACME: 101.5, GLOBEX: 42.25, INITECH: 7.8 };
const prices = new Map(Object.entries(INITIAL_PRICES));
let nextOrder = 1;

/** The verified claims of a bearer token, or a refusal {message, data}. */
function verify(token) {
  if (typeof token !== 'string' || token === '') {
    return { refusal: { message: 'unauthorized', data: { reason: 'missing token' } } };
  }
  let claims;
  try {
    claims = jwt.verify(token, key, { algorithms: ['HS256'] });
  } catch (err) {
    const reason = err.name === 'TokenExpiredError' ? 'expired token' : 'invalid token';
    return { refusal: { message: 'unauthorized', data: { reason } } };
  }
  if (typeof claims.sub !== 'string' || claims.sub === '') {
    return { refusal: { message: 'unauthorized', data: { reason: 'no subject' } } };
  }
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
  return { sub: claims.sub, scopes };
}

function quote(symbol) {
  return { symbol, price: prices.get(symbol), at: Date.now() };
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readJson(req) {
  return new Promise((resolve) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      text += chunk;
      if (text.length > 10000) req.destroy();
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(text));
      } catch {
        resolve(undefined);
      }
    });
  });
}

async function publish(req, res) {
  const bearer = (req.headers.authorization || '').replace(/^Bearer /, '');
  const who = verify(bearer);
  if (who.refusal) return sendJson(res, 401, { error: who.refusal.data.reason });
  if (!who.scopes.includes('market:publish')) {
    return sendJson(res, 403, { error: 'missing scope', required: 'market:publish' });
  }
  const body = await readJson(req);
  const symbol = body && body.symbol;
  const price = body && body.price;
  if (!prices.has(symbol)) return sendJson(res, 400, { error: 'unknown symbol' });
  if (typeof price !== 'number' || !(price > 0)) return sendJson(res, 400, { error: 'bad price' });
  prices.set(symbol, price);
  market.to(`quotes:${symbol}`).emit('quote', quote(symbol));
  sendJson(res, 202, { ok: true, symbol, price });
}

const httpServer = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') return sendJson(res, 200, { status: 'ok' });
  if (req.method === 'POST' && req.url === '/quotes') return void publish(req, res);
  // socket.io answers its own path; everything else is unknown.
  if (!req.url.startsWith('/rt/')) sendJson(res, 404, { error: 'not found' });
});

const io = new Server(httpServer, { path: '/rt/', cors: { origin: '*' } });
const market = io.of('/market');

market.use((socket, next) => {
  const who = verify(socket.handshake.auth && socket.handshake.auth.token);
  let refusal = who.refusal;
  if (!refusal && !who.scopes.includes('market:read')) {
    refusal = { message: 'forbidden', data: { reason: 'missing scope', required: 'market:read' } };
  }
  if (refusal) {
    const err = new Error(refusal.message);
    err.data = refusal.data;
    return next(err);
  }
  socket.data.sub = who.sub;
  socket.data.scopes = who.scopes;
  next();
});

/** Acknowledges when the client asked for it; events without a callback are fire-and-forget. */
function answer(ack, value) {
  if (typeof ack === 'function') ack(value);
}

market.on('connection', (socket) => {
  socket.emit('welcome', { sub: socket.data.sub, serverTime: Date.now() });

  socket.on('subscribe', (payload, ack) => {
    const symbol = payload && payload.symbol;
    if (!prices.has(symbol)) return answer(ack, { ok: false, error: 'unknown symbol' });
    socket.join(`quotes:${symbol}`);
    answer(ack, { ok: true, symbol });
    socket.emit('quote', quote(symbol));
  });

  socket.on('unsubscribe', (payload, ack) => {
    const symbol = payload && payload.symbol;
    socket.leave(`quotes:${symbol}`);
    answer(ack, { ok: true, symbol });
  });

  socket.on('order', (payload, ack) => {
    if (!socket.data.scopes.includes('market:trade')) {
      return answer(ack, { ok: false, error: 'missing scope', required: 'market:trade' });
    }
    const { symbol, side, qty } = payload || {};
    if (!prices.has(symbol)) return answer(ack, { ok: false, error: 'unknown symbol' });
    if (side !== 'buy' && side !== 'sell') return answer(ack, { ok: false, error: 'bad side' });
    if (!Number.isInteger(qty) || qty <= 0) return answer(ack, { ok: false, error: 'bad quantity' });
    answer(ack, { ok: true, id: `ord-${nextOrder++}`, symbol, side, qty, at: Date.now() });
  });
});

httpServer.listen(port, host, () => {
  console.log(`market listening on http://${host}:${port} (socket.io path /rt/, namespace /market)`);
});

function shutdown() {
  io.close(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
