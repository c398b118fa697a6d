//! The in-memory store: a shared `Mutex<BTreeMap>`, for tests of callers. Clones share the map.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Credential, CredentialStore, StoreError, StoreKind};
use crate::secret::Secret;

/// A process-local store. Nothing survives the process.
#[derive(Clone, Default)]
pub struct MemoryStore {
    entries: Arc<Mutex<BTreeMap<String, (String, Secret)>>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.lock().len())
            .finish()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, (String, Secret)>> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl CredentialStore for MemoryStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Memory
    }

    fn get(&self, server: &str) -> Result<Option<Credential>, StoreError> {
        Ok(self
            .lock()
            .get(server)
            .map(|(username, secret)| Credential {
                server: server.to_string(),
                username: username.clone(),
                secret: secret.clone(),
            }))
    }

    fn store(&self, cred: &Credential) -> Result<(), StoreError> {
        self.lock().insert(
            cred.server.clone(),
            (cred.username.clone(), cred.secret.clone()),
        );
        Ok(())
    }

    fn erase(&self, server: &str) -> Result<bool, StoreError> {
        Ok(self.lock().remove(server).is_some())
    }

    fn list(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .lock()
            .iter()
            .map(|(server, (username, _))| (server.clone(), username.clone()))
            .collect())
    }
}
