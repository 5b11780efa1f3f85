//! Statements that only read, outside any transaction.
//!
//! An autocommit `SELECT … WHERE key = $1` — most of what pgbench -S and an
//! ORM's lookups send — needs what a transaction gives a statement: a snapshot
//! and the catalog and storage it pairs with. It needs nothing else: no id, no
//! undo, no commit record, no wait. A `Reader` is exactly that:
//!
//! ```text
//!   Engine::reader()     one lock: snapshot + catalog, xmin registered
//!        │                (GC keeps every version the snapshot may see)
//!   reader.view()        read as any statement does (me = NO_TXN)
//!        │
//!   drop(reader)         one lock: xmin unregistered
//! ```
//!
//! A reader's rows must be copied out before it is dropped: after that, GC
//! may remove versions its snapshot would have seen.

use std::sync::Arc;

use crate::engine::Engine;
use crate::txn::NO_TXN;
use crate::view::ReadView;

pub struct Reader {
    engine: Arc<Engine>,
    view: ReadView,
}

impl Reader {
    pub(crate) fn new(engine: Arc<Engine>) -> Reader {
        let (snapshot, catalog, data) = engine.txns.begin_reader();
        Reader { engine, view: ReadView { snapshot: Arc::new(snapshot), me: NO_TXN, cid: 0, catalog, data } }
    }

    /// What this reader sees: everything committed when it began.
    pub fn view(&self) -> &ReadView {
        &self.view
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.engine.txns.end_reader(self.view.snapshot.xmin);
    }
}
