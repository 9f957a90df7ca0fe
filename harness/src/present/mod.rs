//! What a person reads: `plots`, the `report` (Markdown and HTML), and
//! `diff` of two runs.

pub mod diff;
pub mod plots;
pub mod report;
