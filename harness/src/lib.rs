//! The experiment orchestrator: profiles, pinned trials, /proc sampling, statistics, verdicts, plots, report
