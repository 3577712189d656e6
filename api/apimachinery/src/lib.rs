//! Kubernetes API machinery as pure functions over JSON objects: the resource registry,
//! label and field selectors, defaulting, validation, patches (JSON, merge, strategic,
//! server-side apply), table columns and OpenAPI documents.
//!
//! Owns: every decision the API server makes about an object's shape.
//! Must not: do I/O, hold state, know about the store, HTTP or the runtime.

pub mod apply;
pub mod convert;
pub mod defaults;
pub mod discovery;
pub mod formats;
pub mod kinds;
pub mod merge_keys;
pub mod openapi;
pub mod openapi_v2_pb;
pub mod patch;
pub mod protobuf;
mod protobuf_schema;
pub mod resources;
pub mod review;
pub mod selectors;
pub mod strategy;
pub mod table;
pub mod typed;
pub mod validation;
