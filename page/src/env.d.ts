// The seed's SocketClient reads `process.env.NEXT_PUBLIC_API_URL`, which build.mjs replaces; this
// declares it for the type check without bringing Node's types into browser code.
declare const process: { env: Record<string, string | undefined> };
