// Engine.IO v4 conformance: what the upstream engine.io-protocol test suite checks, case by case,
// against an echo server on `/engine.io/` (run.mjs starts it: ours, conformance-server
// engine-io, or the official engine.io). Why our own suite and not upstream's: docs/compatibility.md
// ("Protocol conformance suites"). Differences in form, and why: engine-io-cases.mjs.
//
// Upstream sources: E = socketio/engine.io-protocol test-suite/test-suite.js (mocha);
// X = Totodore/socketioxide e2e/engineioxide/test-suites/v4.ts (the copy socketioxide's CI runs).
//
// | upstream case (E and X unless said)                                         | here (engine-io-cases.mjs)        |
// | --------------------------------------------------------------------------- | --------------------------------- |
// | handshake / HTTP long-polling / successfully opens a session                | same name                         |
// | handshake / HTTP long-polling / fails with an invalid 'EIO' query parameter | same name                         |
// | handshake / HTTP long-polling / fails with an invalid 'transport' query ... | same name                         |
// | handshake / HTTP long-polling / fails with an invalid request method        | same name                         |
// | handshake / WebSocket / successfully opens a session                        | same name                         |
// | handshake / WebSocket / fails with an invalid 'EIO' query parameter         | same name, awaited (see cases)    |
// | handshake / WebSocket / fails with an invalid 'transport' query parameter   | same name, awaited (see cases)    |
// | message / HTTP long-polling / ... one plain text packet                     | same name                         |
// | message / HTTP long-polling / ... several plain text packets                | same name                         |
// | message / HTTP long-polling / ... plain text and binary packets             | same name                         |
// | message / HTTP long-polling / closes the session upon invalid packet format | same name                         |
// | message / HTTP long-polling / closes the session upon duplicate poll ...    | same name                         |
// | message / WebSocket / sends and receives a plain text packet                | same name                         |
// | message / WebSocket / sends and receives a binary packet                    | same name                         |
// | message / WebSocket / closes the session upon invalid packet format         | same name                         |
// | heartbeat / HTTP long-polling / sends ping/pong packets                     | same name                         |
// | heartbeat / HTTP long-polling / closes the session upon ping timeout        | same name (400 only, as E)        |
// | heartbeat / WebSocket / sends ping/pong packets                             | same name                         |
// | heartbeat / WebSocket / closes the session upon ping timeout                | same name                         |
// | close / HTTP long-polling / forcefully closes the session                   | same name                         |
// | close / WebSocket / forcefully closes the session                           | same name                         |
// | upgrade / successfully upgrades from HTTP long-polling to WebSocket         | same name                         |
// | upgrade / should NOOP all polling requests while upgrading (X only)         | NOOPs all polling requests ...    |
// | upgrade / ignores HTTP requests with same sid after upgrade                 | same name                         |
// | upgrade / ignores WebSocket connection with same sid after upgrade          | same name                         |
//
// Not covered: X's v3.ts (Engine.IO v3, engineioxide's `v3` feature, which neither our server
// nor socketioxide's default features enable).
import { describeEngineIo } from "./engine-io-cases.mjs";

describeEngineIo({ path: "/engine.io/", echo: true });
