//! The dashboard page at `/`: its files (`page/` at the repository root) are embedded in the
//! binary at compile time, so the server needs nothing beside itself to show it. The script is
//! `page/dist/dashboard.js`, built from TypeScript and committed, so building the server never
//! needs Node.
//!
//! Every answer carries a Content-Security-Policy that admits only this server's own scripts,
//! styles, images and connections: no inline script, no other origin. The Node original serves
//! the same files with the same headers (`node-original/src/http/page.ts`).

use axum::Router;
use axum::http::{HeaderName, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// The policy of every page response; the browser tests check both servers send it.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../page/index.html"),
    },
    Asset {
        path: "/assets/dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../page/dist/dashboard.js"),
    },
    Asset {
        path: "/assets/dashboard.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../page/dashboard.css"),
    },
    Asset {
        path: "/assets/favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../page/favicon.svg"),
    },
];

/// The page's routes, to merge into the server's router.
pub fn router() -> Router {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        router.route(asset.path, get(move || async move { serve(asset) }))
    })
}

fn serve(asset: &'static Asset) -> impl IntoResponse {
    let headers: [(HeaderName, &'static str); 5] = [
        (header::CONTENT_TYPE, asset.content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        // Revalidated on every load, so a new server version never meets an old cached script.
        (header::CACHE_CONTROL, "no-cache"),
    ];
    (headers, asset.body)
}
