//! The steps that act on a cluster: a node stopped, killed or started (`server`), redis stopped,
//! killed, frozen or started (`redis`), clients failed over to another node (`move`), and the
//! wait until every node is connected to redis again (`cluster: ready`). Before the first step,
//! every node, redis and HAProxy a scenario names is checked against the target, so a scenario
//! meant for a cluster fails at once, at the line that needs one.

use std::time::Duration;

use super::Runner;
use crate::scenario::{ClusterStep, MoveStep, Step, Via};

/// How long `cluster: ready` waits by default.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

impl Runner<'_> {
    /// The first step that names something the target lacks: its index and why.
    pub(super) fn check_target(&self) -> Result<(), (usize, String)> {
        for (index, step) in self.scenario.steps.iter().enumerate() {
            let target = &*self.target;
            let checked = match &step.value {
                Step::Connect(connect) => match (connect.via, &connect.node) {
                    (Some(Via::Haproxy), _) => target.haproxy_addr().map(|_| ()),
                    (None, Some(node)) => target.check_node(node),
                    (None, None) => Ok(()),
                },
                Step::Http(http) => http
                    .node
                    .as_deref()
                    .map_or(Ok(()), |n| target.check_node(n)),
                Step::Move(step) => target.check_node(&step.node),
                Step::Server(server) => match &server.node {
                    Some(node) => target.check_node(node),
                    None if target.is_cluster() => {
                        return Err((
                            index,
                            "this target is a cluster: name the node, e.g. `server: { kill: b }`"
                                .into(),
                        ));
                    }
                    None => Ok(()),
                },
                Step::Redis(_) | Step::Cluster(_) => target.check_redis(),
                _ => Ok(()),
            };
            checked.map_err(|e| (index, e.to_string()))?;
        }
        Ok(())
    }

    /// Points each client's proxy at the node and resets its connections: the client notices
    /// (`transport close`/`transport error`) and reconnects, if its policy says so, to that node.
    pub(super) fn move_clients(&mut self, step: &MoveStep) -> Result<(), String> {
        let upstream = self
            .target
            .node_addr(Some(&step.node))
            .map_err(|e| e.to_string())?;
        for name in step.client.iter().chain(&step.clients) {
            let slot = self.slot(name)?;
            if slot.via_balancer {
                return Err(format!(
                    "{name} connects through HAProxy, which chooses its node itself"
                ));
            }
            slot.proxy.switch(upstream);
        }
        Ok(())
    }

    pub(super) async fn cluster_ready(&mut self, step: &ClusterStep) -> Result<(), String> {
        let timeout = self.scaled(Some(step.timeout.map_or(READY_TIMEOUT, |m| m.0)));
        self.target
            .wait_cluster_ready(timeout)
            .await
            .map_err(|e| e.to_string())
    }
}
