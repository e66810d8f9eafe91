//! `database`: the target's own PostgreSQL stopped or started; checked before the first step
//! that the target has one.

use super::{Cause, Family, Runner};
use crate::scenario::DatabaseAction;

impl Family for DatabaseAction {
    fn check_target(&self, runner: &Runner<'_>) -> Result<(), Cause> {
        Ok(runner.target.check_database()?)
    }

    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        Ok(runner.target.database(*self).await?)
    }
}
