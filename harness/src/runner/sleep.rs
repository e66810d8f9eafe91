//! `sleep`: waits, unscaled (a pause the scenario wants, not a timeout).

use super::{Cause, Family, Runner};
use crate::scenario::Millis;

/// `sleep: 250ms`.
impl Family for Millis {
    async fn run(&self, _runner: &mut Runner<'_>) -> Result<(), Cause> {
        tokio::time::sleep(self.0).await;
        Ok(())
    }
}
