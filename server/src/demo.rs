//! Demo mode: a throwaway database with a few users and service statuses, a generated secret,
//! and tokens and dashboard sign-in links printed so a newcomer can connect at once. Nothing it
//! makes outlives the process.

use std::time::Duration;

use crate::auth::JwtSecret;
use crate::store::Store;

/// The demo's fixtures: one admin, one user, one inactive user, three services.
pub const DEMO_FIXTURES: &str = include_str!("../demo-fixtures.sql");

/// Seeds `store` and returns the text to print: tokens and how to use them.
pub async fn prepare(
    store: &Store,
    secret: &JwtSecret,
    base_url: &str,
) -> Result<String, crate::store::StoreError> {
    store.run_script(DEMO_FIXTURES).await?;
    let mut text =
        String::from("Demo mode: throwaway database, generated secret. Tokens (valid 24h):\n");
    let mut admin_token = None;
    // The token rides in the fragment, which a browser never sends, so it reaches no server log.
    let mut links = String::from("Dashboard sign-in links (open one in a browser):\n");
    for user in store.list_users().await? {
        let token = secret.mint(&user.id, Duration::from_secs(24 * 3600));
        text.push_str(&format!(
            "  {:<8} {:<6} {:<9} {token}\n",
            user.id,
            format!("{:?}", user.role).to_lowercase(),
            user.status
        ));
        links.push_str(&format!("  {:<8} {base_url}/#token={token}\n", user.id));
        if user.role == crate::store::Role::Admin && user.is_active() {
            admin_token = Some(token);
        }
    }
    text.push_str(&links);
    if let Some(token) = admin_token {
        text.push_str(&format!(
            "Try:\n  curl -s -X PUT {base_url}/api/v1/status/plex -H 'Authorization: Bearer {token}' \
             -H 'Content-Type: application/json' -d '{{\"status\":\"down\"}}'\n  \
             node -e \"require('socket.io-client').io('{base_url}',{{auth:{{token:'{token}'}}}})\
             .on('connect',function(){{this.emit('subscribe:status')}}).onAny(console.log)\"\n"
        ));
    }
    Ok(text)
}
