//! The handshake's cost: HS256 verify plus the user lookup in a real SQLite file.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use realtime_server::auth::{Authenticator, JwtSecret};
use realtime_server::store::Store;

fn auth(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = runtime.block_on(async {
        let store = Store::open(&url).await.expect("store");
        store
            .run_script(include_str!("../../scenarios/fixtures.sql"))
            .await
            .expect("fixtures");
        store
    });
    let secret = JwtSecret::generate();
    let authenticator = Authenticator::new(&secret, store);
    let token = secret.mint("user-1", Duration::from_secs(3600));

    c.bench_function("jwt verify", |b| {
        b.iter(|| authenticator.verify(&token).expect("valid"))
    });
    c.bench_function("jwt verify + user lookup", |b| {
        b.to_async(&runtime).iter(|| async {
            authenticator
                .authenticate(Some(&token))
                .await
                .expect("active user")
        })
    });
}

criterion_group!(benches, auth);
criterion_main!(benches);
