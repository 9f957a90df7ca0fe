//! Open- and closed-loop load generator with coordinated-omission-corrected HdrHistogram latency
