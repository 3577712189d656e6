//! Peer networking behind openraft's `RaftNetworkFactory`. A one-voter cluster never sends a
//! message; until the QUIC transport lands, any peer is unreachable.

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use crate::{Node, NodeId, TypeConfig};

/// Network for a node without peers: every RPC fails as unreachable.
#[derive(Debug, Clone, Default)]
pub struct NoPeers;

fn unreachable(target: NodeId) -> Unreachable {
    Unreachable::new(&std::io::Error::other(format!(
        "no transport to node {target}"
    )))
}

impl RaftNetworkFactory<TypeConfig> for NoPeers {
    type Network = NoPeerClient;

    async fn new_client(&mut self, target: NodeId, _node: &Node) -> Self::Network {
        NoPeerClient { target }
    }
}

/// Client for one unreachable peer.
pub struct NoPeerClient {
    target: NodeId,
}

impl RaftNetwork<TypeConfig> for NoPeerClient {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        Err(RPCError::Unreachable(unreachable(self.target)))
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        Err(RPCError::Unreachable(unreachable(self.target)))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        Err(RPCError::Unreachable(unreachable(self.target)))
    }
}
