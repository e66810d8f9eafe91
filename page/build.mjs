// Builds dist/dashboard.js: src/dashboard.ts, the seed's SocketClient and socket.io-client (from
// node-original's node_modules, the version the client is tested with there) in one ES module,
// headed by the name, version and licence of every package bundled. The output is committed, so
// the Rust server embeds it without Node. `--check` fails if the committed file differs from a
// fresh build (scripts/test.sh runs it).
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outfile = join(here, 'dist/dashboard.js');
const check = process.argv.includes('--check');

const result = await build({
  entryPoints: [join(here, 'src/dashboard.ts')],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  metafile: true,
  write: false,
  // Next.js, the seed's front end, inlines NEXT_PUBLIC_* at build time; the page passes its URL.
  define: { 'process.env.NEXT_PUBLIC_API_URL': 'undefined' },
  logLevel: 'warning',
});

/** `name version (licence)` of each package a bundled file came from. */
function bundledPackages() {
  const roots = new Set();
  for (const input of Object.keys(result.metafile.inputs)) {
    const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match) roots.add(match[1]);
  }
  return [...roots]
    .map((root) => JSON.parse(readFileSync(join(process.cwd(), root, 'package.json'), 'utf8')))
    .map((pkg) => `${pkg.name} ${pkg.version} (${pkg.license})`)
    .sort();
}

const banner = `/*! Dashboard page of realtime-server, built by page/build.mjs. Bundles: ${bundledPackages().join(', ')}. */\n`;
const built = banner + result.outputFiles[0].text;

if (!check) {
  writeFileSync(outfile, built);
} else {
  let committed = '';
  try {
    committed = readFileSync(outfile, 'utf8');
  } catch {
    // a missing file is reported as stale below
  }
  if (built !== committed) {
    console.error('page/dist/dashboard.js is not the build of page/src: run `npm run build` in page/ and commit it');
    process.exit(1);
  }
  console.log('page/dist/dashboard.js is up to date');
}
