//! Runs across machines (`harness run --hosts hosts.toml`): a client's
//! connections and rate are `split` over the generator hosts and their
//! documents `merge`d back into one.

pub mod merge;
pub mod split;
