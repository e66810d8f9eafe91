//! The steps that act on a cluster: a node stopped, killed or started (`server`, maybe as
//! another of the cluster's servers), redis stopped,
//! killed, frozen or started (`redis`), clients failed over to another node (`move`), and the
//! wait until every node is connected to redis again (`cluster: ready`). Each checks before the
//! first step that the target has the node or redis it names.

use std::time::Duration;

use super::{Cause, Family, Runner};
use crate::scenario::{ClusterStep, MoveStep, RedisAction, ServerStep};

/// How long `cluster: ready` waits by default.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

impl Family for ServerStep {
    fn check_target(&self, runner: &Runner<'_>) -> Result<(), Cause> {
        let target = &*runner.target;
        if let Some(server) = &self.start_as {
            target.check_server(server)?;
        }
        match &self.node {
            Some(node) => Ok(target.check_node(node)?),
            None if target.is_cluster() => Err(Cause::Invalid(
                "this target is a cluster: name the node, e.g. `server: { kill: b }`".into(),
            )),
            None => Ok(()),
        }
    }

    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        runner
            .target
            .server(self.action, self.node.as_deref(), self.start_as.as_deref())
            .await
            .map_err(|source| Cause::Server {
                scenario: runner.scenario.name.clone(),
                source,
            })
    }
}

impl Family for RedisAction {
    fn check_target(&self, runner: &Runner<'_>) -> Result<(), Cause> {
        Ok(runner.target.check_redis()?)
    }

    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        Ok(runner.target.redis(*self).await?)
    }
}

impl Family for MoveStep {
    fn check_target(&self, runner: &Runner<'_>) -> Result<(), Cause> {
        Ok(runner.target.check_node(&self.node)?)
    }

    /// Points each client's proxy at the node and resets its connections: the client notices
    /// (`transport close`/`transport error`) and reconnects, if its policy says so, to that node.
    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        let upstream = runner.target.node_addr(Some(&self.node))?;
        for name in self.names() {
            let slot = runner.slot(name)?;
            if slot.via_balancer {
                return Err(Cause::Invalid(format!(
                    "{name} connects through HAProxy, which chooses its node itself"
                )));
            }
            slot.proxy.switch(upstream);
        }
        Ok(())
    }
}

impl Family for ClusterStep {
    fn check_target(&self, runner: &Runner<'_>) -> Result<(), Cause> {
        Ok(runner.target.check_redis()?)
    }

    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        let timeout = runner.scaled(Some(self.timeout.map_or(READY_TIMEOUT, |m| m.0)));
        Ok(runner.target.wait_cluster_ready(timeout).await?)
    }
}
