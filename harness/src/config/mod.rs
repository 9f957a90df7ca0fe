//! What a run is asked to do: profiles (scenarios, microbenchmarks) and the
//! server variants they name.

pub mod profile;
