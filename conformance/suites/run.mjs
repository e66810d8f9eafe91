// Runs the conformance suites: for each server and suite, starts the server on a free loopback
// port, runs the suite (node:test) with CONFORMANCE_URL pointing at it, and stops the server by
// its pid, also when the suite fails or this runner is interrupted.
//
//   node conformance/suites/run.mjs [--server rust|reference]... [--suite engine.io|socket.io]...
//                                   [--bin PATH]
//
// Servers: `rust` is conformance-server (conformance/src; --bin or CONFORMANCE_SERVER_BIN, else
// target/debug/conformance-server: build it first with `cargo build -p protocol-conformance`),
// `reference` the official engine.io 6.6 / socket.io 4.8 (reference/server.mjs). Default: every
// suite on every server, the reference first (a case red there is a bug in the suite).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const suites = {
  "engine.io": { file: "engine.io.test.mjs", protocol: "engine-io" },
  "socket.io": { file: "socket.io.test.mjs", protocol: "socket-io" },
};

const { values } = parseArgs({
  options: {
    server: { type: "string", multiple: true },
    suite: { type: "string", multiple: true },
    bin: { type: "string" },
    help: { type: "boolean" },
  },
});
if (values.help) {
  console.log("node run.mjs [--server rust|reference]... [--suite engine.io|socket.io]... [--bin PATH]");
  process.exit(0);
}
const rustBin = resolve(
  values.bin ?? process.env.CONFORMANCE_SERVER_BIN ?? join(here, "../../target/debug/conformance-server"),
);
const servers = {
  reference: (protocol) => [process.execPath, [join(here, "reference/server.mjs"), protocol]],
  rust: (protocol) => [rustBin, [protocol]],
};
const chosenServers = values.server ?? ["reference", "rust"];
const chosenSuites = values.suite ?? Object.keys(suites);
for (const name of chosenServers) if (!servers[name]) usage(`unknown server '${name}'`);
for (const name of chosenSuites) if (!suites[name]) usage(`unknown suite '${name}'`);

function usage(message) {
  console.error(`run.mjs: ${message} (servers: ${Object.keys(servers)}; suites: ${Object.keys(suites)})`);
  process.exit(2);
}

/** The running server, stopped on the way out whatever happens. */
let running = null;
const stop = () => running?.kill();
process.on("exit", stop);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    stop();
    process.exit(1);
  });
}

/** Starts a server and resolves with its URL, read from its first line of stdout. */
async function start(command, args) {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  running = child;
  const log = [];
  child.stderr.on("data", (chunk) => log.push(chunk));
  const lines = createInterface({ input: child.stdout });
  const ready = new Promise((resolve, reject) => {
    lines.once("line", (line) => {
      const url = /^listening on (http:\/\/\S+)$/.exec(line)?.[1];
      url ? resolve(url) : reject(new Error(`unexpected first line: ${line}`));
    });
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`exited with ${code} before listening`)));
    setTimeout(() => reject(new Error("not listening after 10 s")), 10_000).unref();
  });
  try {
    return { child, log, url: await ready };
  } catch (error) {
    child.kill();
    throw new Error(`${command} ${args.join(" ")}: ${error.message}\n${Buffer.concat(log)}`);
  }
}

const failures = [];
for (const serverName of chosenServers) {
  for (const suiteName of chosenSuites) {
    const suite = suites[suiteName];
    const title = `${suiteName} suite on ${serverName === "rust" ? "conformance-server (ours)" : "the official server"}`;
    console.log(`\n--- ${title}`);
    const server = await start(...servers[serverName](suite.protocol));
    const test = spawn(process.execPath, ["--test", "--test-reporter=spec", join(here, suite.file)], {
      stdio: "inherit",
      env: { ...process.env, CONFORMANCE_URL: server.url },
    });
    const [code] = await once(test, "exit");
    server.child.kill();
    await once(server.child, "exit");
    running = null;
    if (code !== 0) {
      failures.push(title);
      console.log(`server log (stderr):\n${Buffer.concat(server.log)}`);
    }
  }
}
if (failures.length > 0) {
  console.error(`\nconformance: failed: ${failures.join("; ")}`);
  process.exit(1);
}
console.log(`\nconformance: ${chosenSuites.join(" and ")} suites passed on ${chosenServers.join(" and ")}`);
