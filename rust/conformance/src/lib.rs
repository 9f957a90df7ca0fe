//! Replays the shared protocol vectors against any server binary over real TCP
