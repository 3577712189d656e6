//! The store's cluster protocol over `kumo-transport`: Raft's RPCs (append entries, vote,
//! snapshot chunks), and what followers ask of the leader (forwarded writes, read index,
//! joining). Messages are postcard-encoded; every reply is `Result<T, RemoteFailure>`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use kumo_transport::{Failure, Handler, Service, Transport};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Serialize, de::DeserializeOwned};

use crate::mvcc::{Command, Outcome};
use crate::node::{BoxFuture, Peers, StoreNode};
use crate::protocol::*;
use crate::{Error, Node, NodeId, Result, TypeConfig};

/// Time allowed to a forwarded write: past it the outcome is unknown (504 to the client),
/// which is what a write forwarded to a leader that just died gets.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed to a read-index request: past it the read asks whoever leads now (a read
/// index is one heartbeat round on a live leader).
const READ_INDEX_TIMEOUT: Duration = Duration::from_secs(2);
/// Time allowed to a join (the learner catches up first).
const JOIN_TIMEOUT: Duration = Duration::from_secs(120);

fn encode<T: Serialize>(v: &T) -> std::result::Result<Bytes, String> {
    postcard::to_allocvec(v)
        .map(Bytes::from)
        .map_err(|e| format!("encode: {e}"))
}

fn decode<T: DeserializeOwned>(b: &[u8]) -> std::result::Result<T, String> {
    postcard::from_bytes(b).map_err(|e| format!("decode: {e}"))
}

/// A request body that does not decode, as the peer's handler reports it.
fn malformed<T: DeserializeOwned>(b: &[u8]) -> std::result::Result<T, Failure> {
    postcard::from_bytes(b).map_err(|e| Failure::Malformed(e.to_string()))
}

/// A reply that does not encode (it always does: postcard encodes every type sent here).
fn reply<T: Serialize>(v: &T) -> std::result::Result<Bytes, Failure> {
    encode(v).map_err(Failure::Failed)
}

/// Serves the cluster protocol for one node. The node is set once it is open (requests
/// before that get `NotReady`).
#[derive(Default)]
pub struct ClusterService {
    node: OnceLock<StoreNode>,
}

impl ClusterService {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn set_node(&self, node: StoreNode) {
        let _ = self.node.set(node);
    }

    async fn serve(
        &self,
        from: NodeId,
        service: Service,
        body: Bytes,
    ) -> std::result::Result<Bytes, Failure> {
        if service == SVC_PING {
            return Ok(Bytes::new());
        }
        let Some(node) = self.node.get() else {
            return match service {
                SVC_FORWARD | SVC_READ_INDEX | SVC_JOIN | SVC_LEAVE => {
                    reply(&Err::<(), _>(RemoteFailure::NotReady))
                }
                _ => Err(Failure::NotReady),
            };
        };
        // Only members may write or read through the leader: a removed node must stop
        // serving writes even if it never learned of its removal.
        if matches!(service, SVC_FORWARD | SVC_READ_INDEX) && !node.is_member(from) {
            return reply(&Err::<(), _>(RemoteFailure::NotMember));
        }
        match service {
            SVC_APPEND => {
                let req: AppendEntriesRequest<TypeConfig> = malformed(&body)?;
                reply(&node.raft.append_entries(req).await)
            }
            SVC_VOTE => {
                let req: VoteRequest<NodeId> = malformed(&body)?;
                reply(&node.raft.vote(req).await)
            }
            SVC_SNAPSHOT => {
                let req: InstallSnapshotRequest<TypeConfig> = malformed(&body)?;
                reply(&node.raft.install_snapshot(req).await)
            }
            SVC_FORWARD => {
                let cmd: Command = malformed(&body)?;
                let r: std::result::Result<Outcome, RemoteFailure> =
                    node.propose_local(cmd).await.map_err(Into::into);
                reply(&r)
            }
            SVC_READ_INDEX => {
                let r: std::result::Result<u64, RemoteFailure> =
                    node.local_read_index().await.map_err(Into::into);
                reply(&r)
            }
            SVC_JOIN => {
                let req: JoinRequest = malformed(&body)?;
                let r: std::result::Result<(), RemoteFailure> =
                    node.join(req).await.map_err(Into::into);
                reply(&r)
            }
            SVC_LEAVE => {
                let id: NodeId = malformed(&body)?;
                let r: std::result::Result<(), RemoteFailure> =
                    node.remove_anywhere(id).await.map_err(Into::into);
                reply(&r)
            }
            other => Err(Failure::UnknownService(other)),
        }
    }
}

impl Handler for ClusterService {
    fn handle(
        &self,
        from: kumo_transport::NodeId,
        service: Service,
        body: Bytes,
    ) -> impl std::future::Future<Output = std::result::Result<Bytes, Failure>> + Send {
        self.serve(from, service, body)
    }
}

/// Raft's network factory over a transport.
#[derive(Clone)]
pub struct TransportNetwork<T: Transport> {
    transport: T,
}

impl<T: Transport> TransportNetwork<T> {
    pub fn new(transport: T) -> Self {
        Self { transport }
    }
}

fn peer_addr(node: &Node) -> Option<SocketAddr> {
    node.peer_addr.parse().ok()
}

impl<T: Transport> RaftNetworkFactory<TypeConfig> for TransportNetwork<T> {
    type Network = TransportClient<T>;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Self::Network {
        if let Some(addr) = peer_addr(node) {
            self.transport.set_peer(target, addr);
        }
        TransportClient {
            transport: self.transport.clone(),
            target,
        }
    }
}

/// Raft's client for one peer.
pub struct TransportClient<T: Transport> {
    transport: T,
    target: NodeId,
}

impl<T: Transport> TransportClient<T> {
    async fn call<Req: Serialize, Resp: DeserializeOwned, E>(
        &self,
        service: Service,
        req: &Req,
        timeout: Duration,
    ) -> std::result::Result<Resp, RPCError<NodeId, Node, E>>
    where
        E: std::error::Error,
    {
        let body =
            encode(req).map_err(|e| RPCError::Network(NetworkError::new(&Error::Raft(e))))?;
        let reply = self
            .transport
            .request(self.target, service, body, timeout)
            .await
            .map_err(|e| match e {
                kumo_transport::Error::Remote(f) => {
                    RPCError::Network(NetworkError::new(&Error::Raft(f.to_string())))
                }
                other => RPCError::Unreachable(Unreachable::new(&other)),
            })?;
        decode(&reply).map_err(|e| RPCError::Network(NetworkError::new(&Error::Raft(e))))
    }
}

impl<T: Transport> RaftNetwork<TypeConfig> for TransportClient<T> {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> std::result::Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>>
    {
        let r: std::result::Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>> =
            self.call(SVC_APPEND, &rpc, option.hard_ttl()).await?;
        r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> std::result::Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let r: std::result::Result<
            InstallSnapshotResponse<NodeId>,
            RaftError<NodeId, InstallSnapshotError>,
        > = self.call(SVC_SNAPSHOT, &rpc, option.hard_ttl()).await?;
        r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> std::result::Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        let r: std::result::Result<VoteResponse<NodeId>, RaftError<NodeId>> =
            self.call(SVC_VOTE, &rpc, option.hard_ttl()).await?;
        r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

/// Forwarding to the leader over a transport.
pub struct TransportPeers<T: Transport> {
    transport: T,
}

impl<T: Transport> TransportPeers<T> {
    pub fn new(transport: T) -> Arc<Self> {
        Arc::new(Self { transport })
    }

    async fn ask<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        to: NodeId,
        service: Service,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp> {
        let body = encode(req).map_err(Error::Raft)?;
        let reply =
            self.transport
                .request(to, service, body, timeout)
                .await
                .map_err(|e| match e {
                    // Never delivered: safe to retry after an election.
                    kumo_transport::Error::Unreachable { .. }
                    | kumo_transport::Error::Refused(_) => Error::NotLeader { leader: None },
                    // Maybe delivered and applied (a timeout, a connection lost mid-request:
                    // `Lost`): the outcome is unknown, so it must not be retried blindly.
                    other => Error::Unknown(other.to_string()),
                })?;
        let r: std::result::Result<Resp, RemoteFailure> = decode(&reply).map_err(Error::Raft)?;
        r.map_err(Into::into)
    }
}

impl<T: Transport> Peers for TransportPeers<T> {
    fn learn(&self, id: NodeId, node: &Node) {
        if let Some(addr) = peer_addr(node) {
            self.transport.set_peer(id, addr);
        }
    }

    fn leave(&self, leader: NodeId, id: NodeId) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.ask(leader, SVC_LEAVE, &id, JOIN_TIMEOUT).await })
    }

    fn join(&self, leader: NodeId, req: JoinRequest) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.ask(leader, SVC_JOIN, &req, JOIN_TIMEOUT).await })
    }

    fn forward(&self, leader: NodeId, cmd: Command) -> BoxFuture<'_, Result<Outcome>> {
        Box::pin(async move { self.ask(leader, SVC_FORWARD, &cmd, FORWARD_TIMEOUT).await })
    }

    fn read_index(&self, leader: NodeId) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            self.ask(leader, SVC_READ_INDEX, &(), READ_INDEX_TIMEOUT)
                .await
        })
    }
}

/// How often a voter that does not lead probes its fellow voters.
const PROBE_EVERY: Duration = Duration::from_millis(250);
/// Time allowed to one probe.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// A voter counts as reachable for this long after it last answered a probe.
const REACHABLE_FOR: Duration = Duration::from_secs(2);

/// Whether a voter that does not lead may start elections: only while it can reach a
/// majority of the voters, itself included. openraft 0.9 has no pre-vote: a node cut off
/// from the others (or left alone) would otherwise bump its term at every election timeout,
/// and on its return force the healthy cluster through an election.
pub fn may_elect(me: NodeId, voters: &BTreeSet<NodeId>, reachable: &BTreeSet<NodeId>) -> bool {
    let up = voters
        .iter()
        .filter(|v| **v == me || reachable.contains(v))
        .count();
    up * 2 > voters.len()
}

/// Keeps elections off while this node cannot reach a majority of the voters (see
/// [`may_elect`]): a background task probes the other voters every [`PROBE_EVERY`] while
/// this node does not lead, and switches openraft's elections on and off. Ends when Raft
/// stops.
pub fn guard_elections<T: Transport>(node: StoreNode, transport: T) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let me = node.node_id();
        let mut rx = node.raft.metrics();
        // Every voter starts as reachable: a node starting up gets a full REACHABLE_FOR to
        // find its peers before its elections are held back.
        let mut seen: BTreeMap<NodeId, tokio::time::Instant> = BTreeMap::new();
        let started = tokio::time::Instant::now();
        let mut allowed = true;
        loop {
            if rx.has_changed().is_err() {
                return;
            }
            let (leading, voters, nodes) = {
                let m = rx.borrow_and_update();
                if m.running_state.is_err() {
                    return;
                }
                let membership = m.membership_config.membership();
                let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
                let nodes: Vec<(NodeId, Node)> = voters
                    .iter()
                    .filter(|v| **v != me)
                    .filter_map(|v| membership.get_node(v).map(|n| (*v, n.clone())))
                    .collect();
                (m.current_leader == Some(me), voters, nodes)
            };
            if leading {
                // A leader hears from the others through replication; nothing to probe.
                let now = tokio::time::Instant::now();
                for (id, _) in &nodes {
                    seen.insert(*id, now);
                }
            } else {
                let probes = nodes.iter().map(|(id, n)| {
                    if let Some(addr) = peer_addr(n) {
                        transport.set_peer(*id, addr);
                    }
                    let t = transport.clone();
                    let id = *id;
                    async move {
                        let r = t.request(id, SVC_PING, Bytes::new(), PROBE_TIMEOUT).await;
                        (
                            id,
                            matches!(r, Ok(_) | Err(kumo_transport::Error::Remote(_))),
                        )
                    }
                });
                let now = tokio::time::Instant::now();
                for (id, answered) in futures::future::join_all(probes).await {
                    if answered {
                        seen.insert(id, now);
                    }
                }
            }
            let now = tokio::time::Instant::now();
            let reachable: BTreeSet<NodeId> = voters
                .iter()
                .filter(|v| {
                    let last = seen.get(v).copied().unwrap_or(started);
                    now.duration_since(last) <= REACHABLE_FOR
                })
                .copied()
                .collect();
            let may = leading || !voters.contains(&me) || may_elect(me, &voters, &reachable);
            if may != allowed {
                allowed = may;
                node.raft.runtime_config().elect(may);
                if may {
                    tracing::info!(
                        ?reachable,
                        "a majority of voters is reachable: elections on"
                    );
                } else {
                    tracing::warn!(
                        ?reachable,
                        "a majority of voters is unreachable: no elections until it is back"
                    );
                }
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[NodeId]) -> BTreeSet<NodeId> {
        ids.iter().copied().collect()
    }

    #[test]
    fn a_voter_elects_only_with_a_reachable_majority() {
        let three = set(&[1, 2, 3]);
        // Alone: no elections (the lone follower that bumped its term endlessly).
        assert!(!may_elect(1, &three, &set(&[])));
        // One peer reachable: 2 of 3, a majority.
        assert!(may_elect(1, &three, &set(&[3])));
        assert!(may_elect(1, &three, &set(&[2, 3])));
        // Reachability of itself is implied.
        assert!(may_elect(1, &three, &set(&[1, 2])));
        assert!(!may_elect(1, &three, &set(&[1])));
        let five = set(&[1, 2, 3, 4, 5]);
        assert!(!may_elect(1, &five, &set(&[2])));
        assert!(may_elect(1, &five, &set(&[2, 5])));
        // A single voter always may; an even split is not a majority.
        assert!(may_elect(1, &set(&[1]), &set(&[])));
        assert!(!may_elect(1, &set(&[1, 2]), &set(&[])));
        assert!(may_elect(1, &set(&[1, 2]), &set(&[2])));
        // Nodes that are not voters do not count.
        assert!(!may_elect(1, &three, &set(&[7, 8])));
    }
}
