//! The stores a command uses, in order, behind the one [`CredentialStore`] interface (the shape
//! of docker-credential-helpers, whose protocol handler works on one `Helper`): `get` answers
//! from the first store that holds the login, `erase` erases from every store, `list` is the
//! union, and `store` writes into the store chosen for writing. A store that is not usable
//! (no bus, locked collection, no session keyring) is skipped by every call; any other failure
//! is an error.
//!
//! Which stores, in what order, is chosen by the caller (`credentials::keyring`); a chain is
//! opened once for a [`Purpose`].

use std::sync::{Mutex, OnceLock};

use super::{Credential, CredentialStore, Opener, StoreError, StoreKind, StoreOptions, start_one};

/// `(server, username)` pairs, as [`CredentialStore::list`] returns them.
pub type Logins = Vec<(String, String)>;

/// What a chain is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Look up, list and erase logins in every store of the list; stores open on first use,
    /// so a lookup answered by an earlier store never pays for opening a later one.
    Read,
    /// Write logins into the first usable store of the list, with a warning when that is not
    /// the first one.
    Write,
}

/// One store of a chain, opened when first needed.
struct Link {
    kind: StoreKind,
    opener: Mutex<Option<Opener>>,
    opened: OnceLock<Result<Box<dyn CredentialStore>, StoreError>>,
}

impl Link {
    fn new(kind: StoreKind, opener: Opener) -> Link {
        Link {
            kind,
            opener: Mutex::new(Some(opener)),
            opened: OnceLock::new(),
        }
    }

    /// The store, or why it cannot be opened (the same error on every call).
    fn store(&self) -> Result<&dyn CredentialStore, StoreError> {
        let opened = self.opened.get_or_init(|| {
            let opener = self.opener.lock().unwrap_or_else(|e| e.into_inner()).take();
            match opener {
                Some(open) => open(),
                None => Err(StoreError::Backend {
                    store: self.kind,
                    message: "opening the store failed earlier".into(),
                }),
            }
        });
        match opened {
            Ok(store) => Ok(store.as_ref()),
            Err(e) => Err(e.clone()),
        }
    }
}

/// Stores used as one; see the module docs.
pub struct StoreChain {
    links: Vec<Link>,
    warning: Option<String>,
}

/// A [`StoreChain`] being opened by [`StoreChain::start`].
pub struct Opening {
    links: Vec<Link>,
    purpose: Purpose,
}

impl StoreChain {
    /// Opens the stores `kinds`, in that order, for `purpose`.
    pub fn open(kinds: &[StoreKind], purpose: Purpose) -> StoreChain {
        StoreChain::start(kinds, purpose).finish()
    }

    /// Starts [`open`](Self::open): the Secret Service connects while the caller goes on
    /// (the credential helper reads its request meanwhile); [`Opening::finish`] returns the
    /// chain.
    pub fn start(kinds: &[StoreKind], purpose: Purpose) -> Opening {
        StoreChain::start_with(kinds, purpose, &StoreOptions::from_env())
    }

    pub(crate) fn start_with(
        kinds: &[StoreKind],
        purpose: Purpose,
        opts: &StoreOptions,
    ) -> Opening {
        Opening {
            links: kinds
                .iter()
                .map(|&kind| Link::new(kind, start_one(kind, opts)))
                .collect(),
            purpose,
        }
    }

    /// A chain of stores that are already open, for tests of callers.
    pub fn of(stores: Vec<Box<dyn CredentialStore>>) -> StoreChain {
        let links = stores
            .into_iter()
            .map(|s| {
                let kind = s.kind();
                Link::new(kind, Box::new(move || Ok(s)))
            })
            .collect();
        StoreChain {
            links,
            warning: None,
        }
    }

    /// A chain of one store that cannot be used because of `why`, for tests of callers.
    pub fn unusable(why: StoreError) -> StoreChain {
        let kind = why.store().unwrap_or(StoreKind::Memory);
        StoreChain {
            links: vec![Link::new(kind, Box::new(move || Err(why)))],
            warning: None,
        }
    }

    /// Sets the warning, for tests of callers.
    pub fn with_warning(mut self, warning: impl Into<String>) -> StoreChain {
        self.warning = Some(warning.into());
        self
    }

    /// Why logins are written to a store other than the first choice (e.g. "Secret Service
    /// unusable, using keyutils"): for the user's terminal, once a login was written.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// The login for `server` and the store it came from: the first store that has it.
    pub fn find(&self, server: &str) -> Result<Option<(Credential, StoreKind)>, StoreError> {
        for link in &self.links {
            let got = link.store().and_then(|s| s.get(server));
            tracing::debug!(store = %link.kind, server, found = matches!(got, Ok(Some(_))), "looked up a login");
            match got {
                Ok(Some(c)) => return Ok(Some((c, link.kind))),
                Ok(None) => {}
                Err(e) if e.is_unavailable() => tracing::debug!("skipping {}: {e}", link.kind),
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// The first store that opens, or why none does (for `doctor`).
    pub fn first_usable(&self) -> Result<StoreKind, StoreError> {
        let mut tried = Vec::new();
        for link in &self.links {
            match link.store() {
                Ok(_) => return Ok(link.kind),
                Err(e) => tried.push(e),
            }
        }
        Err(none_usable(tried))
    }

    /// `f` on every usable store, in order, with the store's kind.
    fn each<T>(
        &self,
        f: impl Fn(&dyn CredentialStore) -> Result<T, StoreError>,
    ) -> Result<Vec<(StoreKind, T)>, StoreError> {
        let mut out = Vec::new();
        for link in &self.links {
            match link.store().and_then(&f) {
                Ok(t) => out.push((link.kind, t)),
                Err(e) if e.is_unavailable() => tracing::debug!("skipping {}: {e}", link.kind),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Erases `server` from every store: the stores that had it.
    pub fn erase_each(&self, server: &str) -> Result<Vec<StoreKind>, StoreError> {
        let erased = self.each(|s| s.erase(server))?;
        Ok(erased
            .into_iter()
            .filter_map(|(kind, erased)| erased.then_some(kind))
            .collect())
    }

    /// Every store's `(server, username)` pairs: the per-store view of [`CredentialStore::list`].
    pub fn list_each(&self) -> Result<Vec<(StoreKind, Logins)>, StoreError> {
        self.each(|s| s.list())
    }
}

impl Opening {
    /// Waits for the stores a [`Purpose::Write`] chain chooses between; a read chain opens
    /// each store on first use.
    pub fn finish(self) -> StoreChain {
        let Opening { links, purpose } = self;
        if purpose == Purpose::Read {
            return StoreChain {
                links,
                warning: None,
            };
        }
        let mut passed_over: Option<StoreError> = None;
        let mut failed = Vec::new();
        for link in links {
            match link.store() {
                Ok(store) => {
                    let warning = passed_over.map(|why| store.fallback_warning(&why));
                    return StoreChain {
                        links: vec![link],
                        warning,
                    };
                }
                Err(e) => {
                    passed_over.get_or_insert(e);
                    failed.push(link);
                }
            }
        }
        // None usable: every call reports why, per store.
        StoreChain {
            links: failed,
            warning: None,
        }
    }
}

impl CredentialStore for StoreChain {
    /// The store written to (the first of the chain).
    fn kind(&self) -> StoreKind {
        self.links.first().map_or(StoreKind::Memory, |l| l.kind)
    }

    /// The first store that holds `server`; `None` also when no store is usable (there is
    /// nothing to find: docker then goes on anonymously, as it should for public images).
    fn get(&self, server: &str) -> Result<Option<Credential>, StoreError> {
        Ok(self.find(server)?.map(|(c, _)| c))
    }

    /// Into the first usable store (for a write chain: the chosen one). When none is usable
    /// the error says why for each.
    fn store(&self, cred: &Credential) -> Result<(), StoreError> {
        let mut tried = Vec::new();
        for link in &self.links {
            match link.store().and_then(|s| s.store(cred)) {
                Ok(()) => return Ok(()),
                Err(e) if e.is_unavailable() => tried.push(e),
                Err(e) => return Err(e),
            }
        }
        Err(none_usable(tried))
    }

    /// From every store: `true` if any had it.
    fn erase(&self, server: &str) -> Result<bool, StoreError> {
        Ok(!self.erase_each(server)?.is_empty())
    }

    /// The union, sorted by server; for a server in several stores, the store `get` reads.
    fn list(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut all = std::collections::BTreeMap::new();
        for (_, entries) in self.list_each()?.into_iter().rev() {
            all.extend(entries);
        }
        Ok(all.into_iter().collect())
    }
}

/// The error for a chain none of whose stores could be used: a single store's own error.
fn none_usable(mut tried: Vec<StoreError>) -> StoreError {
    match tried.len() {
        1 => tried.remove(0),
        _ => StoreError::NoneUsable { tried },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::store::memory::MemoryStore;

    /// A store that is never usable, reporting as `kind`.
    struct Down(StoreKind);

    impl Down {
        fn err(&self) -> StoreError {
            StoreError::Unavailable {
                store: self.0,
                reason: "down".into(),
                fix: "start it".into(),
            }
        }
    }

    impl CredentialStore for Down {
        fn kind(&self) -> StoreKind {
            self.0
        }
        fn get(&self, _: &str) -> Result<Option<Credential>, StoreError> {
            Err(self.err())
        }
        fn store(&self, _: &Credential) -> Result<(), StoreError> {
            Err(self.err())
        }
        fn erase(&self, _: &str) -> Result<bool, StoreError> {
            Err(self.err())
        }
        fn list(&self) -> Result<Vec<(String, String)>, StoreError> {
            Err(self.err())
        }
    }

    fn cred(server: &str, user: &str) -> Credential {
        Credential {
            server: server.into(),
            username: user.into(),
            secret: Secret::new(format!("{user}-secret")),
        }
    }

    fn memory_with(entries: &[(&str, &str)]) -> MemoryStore {
        let m = MemoryStore::new();
        for (server, user) in entries {
            m.store(&cred(server, user)).unwrap();
        }
        m
    }

    #[test]
    fn get_is_the_first_hit_skipping_unusable_stores() {
        let a = memory_with(&[("r1", "a1")]);
        let b = memory_with(&[("r1", "b1"), ("r2", "b2")]);
        let chain = StoreChain::of(vec![
            Box::new(Down(StoreKind::SecretService)),
            Box::new(a),
            Box::new(b),
        ]);
        assert_eq!(chain.get("r1").unwrap().unwrap().username, "a1");
        assert_eq!(chain.get("r2").unwrap().unwrap().username, "b2");
        assert!(chain.get("r3").unwrap().is_none());
        assert_eq!(chain.kind(), StoreKind::SecretService);
    }

    #[test]
    fn nothing_usable_finds_nothing_and_stores_nowhere() {
        let chain = StoreChain::of(vec![
            Box::new(Down(StoreKind::SecretService)),
            Box::new(Down(StoreKind::Keyutils)),
        ]);
        assert!(chain.get("r").unwrap().is_none());
        assert!(chain.list().unwrap().is_empty());
        assert!(!chain.erase("r").unwrap());
        let err = chain.store(&cred("r", "u")).unwrap_err();
        let text = err.to_string();
        assert_eq!(
            text,
            "no credential store is usable (secret-service: down; keyutils: down): use a \
             desktop keyring, run under `keyctl session -`, or in CI set \
             DOCKER_AUTH_CONFIG"
        );
        // One store: its own error.
        let one = StoreChain::unusable(Down(StoreKind::Keyutils).err());
        assert_eq!(
            one.store(&cred("r", "u")).unwrap_err().to_string(),
            "keyutils is not usable: down; start it"
        );
        assert_eq!(one.kind(), StoreKind::Keyutils);
    }

    #[test]
    fn erase_everywhere_and_list_the_union() {
        let a = memory_with(&[("r1", "a1"), ("r3", "a3")]);
        let b = memory_with(&[("r1", "b1"), ("r2", "b2")]);
        let chain = StoreChain::of(vec![
            Box::new(a.clone()),
            Box::new(Down(StoreKind::Keyutils)),
            Box::new(b.clone()),
        ]);
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(s, u)| (s.to_string(), u.to_string()))
                .collect()
        };
        assert_eq!(
            chain.list().unwrap(),
            pairs(&[("r1", "a1"), ("r2", "b2"), ("r3", "a3")])
        );
        let each = chain.list_each().unwrap();
        assert_eq!(each.len(), 2);
        assert_eq!(each[1].1, pairs(&[("r1", "b1"), ("r2", "b2")]));
        assert_eq!(
            chain.erase_each("r1").unwrap(),
            vec![StoreKind::Memory, StoreKind::Memory]
        );
        assert!(a.get("r1").unwrap().is_none() && b.get("r1").unwrap().is_none());
        assert!(!chain.erase("r1").unwrap());
        chain.store(&cred("r9", "new")).unwrap();
        assert!(
            a.get("r9").unwrap().is_some(),
            "stored into the first store"
        );
        assert!(b.get("r9").unwrap().is_none());
    }

    #[test]
    fn write_chain_takes_the_first_usable_store_with_a_warning() {
        let opening = Opening {
            links: vec![
                Link::new(
                    StoreKind::SecretService,
                    Box::new(|| Err(Down(StoreKind::SecretService).err())),
                ),
                Link::new(
                    StoreKind::Memory,
                    Box::new(|| Ok(Box::new(MemoryStore::new()) as _)),
                ),
            ],
            purpose: Purpose::Write,
        };
        let chain = opening.finish();
        assert_eq!(chain.kind(), StoreKind::Memory);
        assert_eq!(
            chain.warning(),
            Some("credentials are kept in memory; secret-service is not usable: down; start it")
        );
        chain.store(&cred("r", "u")).unwrap();
        let first = StoreChain::start_with(
            &[StoreKind::Memory, StoreKind::Memory],
            Purpose::Write,
            &StoreOptions::default(),
        )
        .finish();
        assert!(first.warning().is_none());
    }

    /// The contract holds for a chain too (over memory stores).
    #[test]
    fn chain_passes_the_contract() {
        let chain = StoreChain::of(vec![
            Box::new(MemoryStore::new()),
            Box::new(Down(StoreKind::Keyutils)),
        ]);
        crate::store::contract::contract_suite(&chain);
    }
}
