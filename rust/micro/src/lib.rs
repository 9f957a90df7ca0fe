//! Runtime microbenchmarks for tokio: spawn, ping-pong, channels, blocking bursts, starvation, LIFO wake-ups
