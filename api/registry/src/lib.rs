//! The storage semantics of the Kubernetes API, with no HTTP in it: create, update, patch,
//! delete (finalizers, graceful deletion, propagation), get, list and watch of every served
//! kind as conditional reads and writes on the replicated store; allocations (cluster IPs,
//! node ports); the controller runtime (a watcher of the store's event window, an index,
//! bounded work queues, supervised drivers) and the controllers on it that keep
//! namespaces, finalizers and system objects converged. The API server, the controllers
//! and tests all call it.
//!
//! Owns: the sequence of decisions for one request, and the errors as Kubernetes `Status`.
//! Must not: parse HTTP, hold connections, or decide an object's shape (defaults,
//! validation, patches and selectors are `kumo-apimachinery`'s).

pub mod alloc;
pub mod controllers;
pub mod error;
mod registry;
pub mod runtime;
pub mod watch;

pub use registry::*;
