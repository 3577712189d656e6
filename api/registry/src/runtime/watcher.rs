//! The watcher: follows the store as a list, then a watch, then a list again when the watch
//! fell out of the history window (the store's `Compacted`, the API's 410) — kube-runtime's
//! `watcher` state machine, reading the store's event window directly instead of HTTP.
//! Pure: [`Watcher`] says what to read next and takes what was read; the shell
//! ([`super::follow`]) does the reads, each under the state machine's read lock for one
//! page or one batch of events only.

use kumo_raft_store::Revision;

/// Keys read per page while listing (one read lock each).
pub const LIST_PAGE: usize = 1_000;
/// Events read per batch while watching (one read lock each).
pub const EVENT_BATCH: usize = 4_096;

/// Where the watcher is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Listing every key page by page, all pages at revision `at` (fixed by the first page),
    /// after `after`.
    Listing {
        at: Option<Revision>,
        after: Option<String>,
    },
    /// Following the event window after revision `after`.
    Watching { after: Revision },
}

/// The next read to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Page {
        after: Option<String>,
        at: Option<Revision>,
        limit: usize,
    },
    Events {
        after: Revision,
        limit: usize,
    },
}

/// What a page meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageStep {
    /// The first page of a list: start a fresh index.
    pub first: bool,
    /// The last page: the fresh index is complete, at `revision`.
    pub done: bool,
    pub revision: Revision,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watcher {
    phase: Phase,
    relists: u64,
}

impl Default for Watcher {
    fn default() -> Self {
        Self::new()
    }
}

impl Watcher {
    /// Starts by listing.
    pub fn new() -> Self {
        Self {
            phase: Phase::Listing {
                at: None,
                after: None,
            },
            relists: 0,
        }
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Lists started again because history was gone.
    pub fn relists(&self) -> u64 {
        self.relists
    }

    pub fn next(&self) -> Read {
        match &self.phase {
            Phase::Listing { at, after } => Read::Page {
                after: after.clone(),
                at: *at,
                limit: LIST_PAGE,
            },
            Phase::Watching { after } => Read::Events {
                after: *after,
                limit: EVENT_BATCH,
            },
        }
    }

    /// A page was read at `revision`; `last_key` is its last key, `more` whether keys remain.
    pub fn on_page(
        &mut self,
        revision: Revision,
        last_key: Option<String>,
        more: bool,
    ) -> PageStep {
        let Phase::Listing { at, after } = &self.phase else {
            // A page answers only a page read.
            return PageStep {
                first: false,
                done: false,
                revision,
            };
        };
        let first = at.is_none() && after.is_none();
        let at = at.unwrap_or(revision);
        if more {
            self.phase = Phase::Listing {
                at: Some(at),
                after: last_key.or_else(|| after.clone()),
            };
            PageStep {
                first,
                done: false,
                revision: at,
            }
        } else {
            self.phase = Phase::Watching { after: at };
            PageStep {
                first,
                done: true,
                revision: at,
            }
        }
    }

    /// Events were read up to revision `upto`.
    pub fn on_events(&mut self, upto: Revision) {
        if let Phase::Watching { after } = &mut self.phase {
            *after = (*after).max(upto);
        }
    }

    /// The revision asked for is no longer retained (410): list again from the start, at a
    /// new revision. While listing, the list's revision fell out of the window: the same.
    pub fn on_compacted(&mut self) {
        self.relists += 1;
        self.phase = Phase::Listing {
            at: None,
            after: None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_page_by_page_at_one_revision_then_watches() {
        let mut w = Watcher::new();
        assert_eq!(
            w.next(),
            Read::Page {
                after: None,
                at: None,
                limit: LIST_PAGE
            }
        );
        let s = w.on_page(40, Some("b".into()), true);
        assert!(s.first && !s.done);
        // Later pages are read at the first page's revision, after its last key.
        assert_eq!(
            w.next(),
            Read::Page {
                after: Some("b".into()),
                at: Some(40),
                limit: LIST_PAGE
            }
        );
        let s = w.on_page(40, Some("d".into()), false);
        assert!(!s.first && s.done);
        assert_eq!(s.revision, 40);
        assert_eq!(
            w.next(),
            Read::Events {
                after: 40,
                limit: EVENT_BATCH
            }
        );
        w.on_events(55);
        w.on_events(50);
        assert_eq!(w.phase(), &Phase::Watching { after: 55 }, "never goes back");
    }

    #[test]
    fn an_empty_store_is_one_page() {
        let mut w = Watcher::new();
        let s = w.on_page(0, None, false);
        assert!(s.first && s.done);
        assert_eq!(w.phase(), &Phase::Watching { after: 0 });
    }

    #[test]
    fn relists_after_410_while_watching_or_listing() {
        let mut w = Watcher::new();
        w.on_page(10, None, false);
        w.on_compacted();
        assert_eq!(w.relists(), 1);
        assert_eq!(
            w.next(),
            Read::Page {
                after: None,
                at: None,
                limit: LIST_PAGE
            }
        );
        // The list's own revision compacted between pages: start the list over.
        w.on_page(90, Some("m".into()), true);
        w.on_compacted();
        assert_eq!(w.relists(), 2);
        assert!(w.on_page(120, None, false).first, "a fresh list");
        assert_eq!(w.phase(), &Phase::Watching { after: 120 });
    }
}
