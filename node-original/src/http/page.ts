// The dashboard page at `/`, the same files and headers as the Rust server's (server/src/page.rs):
// read once at start from page/ at the repository root.
import type { Express } from 'express';
import { readFileSync } from 'fs';
import { join, resolve } from 'path';

/** The policy of every page response; the browser tests check both servers send it. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// Compiled to dist/src/http/, four levels below the repository root.
const PAGE_DIR = resolve(__dirname, '../../../../page');

const ASSETS: { path: string; file: string; contentType: string }[] = [
  { path: '/', file: 'index.html', contentType: 'text/html; charset=utf-8' },
  { path: '/assets/dashboard.js', file: 'dist/dashboard.js', contentType: 'text/javascript; charset=utf-8' },
  { path: '/assets/dashboard.css', file: 'dashboard.css', contentType: 'text/css; charset=utf-8' },
  { path: '/assets/favicon.svg', file: 'favicon.svg', contentType: 'image/svg+xml' },
];

export function servePage(app: Express): void {
  for (const asset of ASSETS) {
    const body = readFileSync(join(PAGE_DIR, asset.file));
    app.get(asset.path, (_req, res) => {
      res.set({
        'Content-Type': asset.contentType,
        'Content-Security-Policy': CONTENT_SECURITY_POLICY,
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'Cache-Control': 'no-cache',
      });
      res.send(body);
    });
  }
}
