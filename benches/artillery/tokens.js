// Prints one HS256 token a line for the load users `load-1` … `load-COUNT` (what
// `sio-harness load-users` creates), for Artillery's payload file.
//   node tokens.js COUNT < secret > tokens.csv
'use strict';
const crypto = require('node:crypto');
const path = require('node:path');
const jwt = require(path.join(__dirname, '../../node-original/node_modules/jsonwebtoken'));

const count = Number(process.argv[2]);
if (!Number.isInteger(count) || count < 1) {
  console.error('usage: node tokens.js COUNT < secret');
  process.exit(2);
}
const secret = require('node:fs').readFileSync(0, 'utf8').trim();
const key = crypto.createSecretKey(Buffer.from(secret));
const exp = Math.floor(Date.now() / 1000) + 3600;
for (let i = 1; i <= count; i++) {
  process.stdout.write(`${jwt.sign({ userId: `load-${i}`, exp }, key, { algorithm: 'HS256' })}\n`);
}
