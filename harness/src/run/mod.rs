//! Running a profile: the trial order (`plan`), checks before start
//! (`preflight`), one trial (`trial`, `micro`) with its `/proc` `sampler`,
//! the whole run (`runner`), files on disk (`results`), Ctrl-C (`signals`).

pub mod micro;
pub mod outcome;
pub mod plan;
pub mod preflight;
pub mod results;
pub mod runner;
pub mod sampler;
pub mod signals;
pub mod trial;
