//! The tokio server: echo and work workloads with every offloading strategy side by side
