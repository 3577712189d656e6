//! openraft's own storage conformance suite, run against the durable log and state machine.

use kumo_raft_store::{LogStore, NodeId, StateMachine, TypeConfig};
use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};

struct DiskBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for DiskBuilder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<NodeId>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, _) = LogStore::open(&dir.path().join("log")).expect("open log");
        let sm = StateMachine::open(&dir.path().join("sm"), 10_000).expect("open sm");
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() -> anyhow::Result<()> {
    Suite::test_all(DiskBuilder)?;
    Ok(())
}
