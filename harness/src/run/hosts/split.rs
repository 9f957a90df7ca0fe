//! How one client of a scenario is shared among the generator hosts: its
//! connections by the hosts' weights, and its open-loop rate in proportion
//! to the connections each got — so every connection keeps the per-
//! connection rate it has on one machine, and the shares add up to the
//! scenario's rate and connection count exactly. Pure.

/// One generator host's part of a client.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// Index of the generator host.
    pub host: usize,
    pub conns: usize,
    /// Open-loop rates, one per step (empty in closed loop and idle).
    pub rates: Vec<f64>,
    /// When this host's schedule starts after the agreed instant, in ms:
    /// uniform open-loop schedules are staggered by one request interval of
    /// the whole rate, so the merged stream stays evenly spaced instead of
    /// the hosts sending in step.
    pub start_offset_ms: f64,
}

/// `total` split by `weights` with the largest-remainder method (ties go
/// to the earlier host): the parts add up to `total`, each within one of
/// its exact share.
pub fn apportion(total: usize, weights: &[f64]) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    if weights.is_empty() || sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut parts: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut left = total - parts.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for i in order {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

/// The shares of a client with `conns` connections and open-loop `rates`
/// (empty for closed loop and idle) over hosts of `weights`. A host that
/// gets no connection runs nothing for this client. `uniform` says the
/// arrivals are evenly spaced (open loop, not Poisson).
pub fn split(conns: usize, rates: &[f64], weights: &[f64], uniform: bool) -> Vec<Share> {
    let parts = apportion(conns, weights);
    let whole_rate = rates.first().copied().unwrap_or(0.0);
    parts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .enumerate()
        .map(|(j, (host, &c))| Share {
            host,
            conns: c,
            rates: rates.iter().map(|r| r * c as f64 / conns as f64).collect(),
            start_offset_ms: if uniform && whole_rate > 0.0 {
                j as f64 * 1e3 / whole_rate
            } else {
                0.0
            },
        })
        .collect()
}

/// A mix whose classes fix their own connection counts (`conns=N`) is not
/// split: each host would need its own rewritten mix.
pub fn check_mix(client: &str, mix: Option<&str>, hosts: usize) -> Result<(), String> {
    match mix {
        Some(m)
            if hosts > 1
                && m.split([';', ',', ':'])
                    .any(|p| p.trim().starts_with("conns=")) =>
        {
            Err(format!(
                "client {client}: its mix fixes per-class connections (conns=), which cannot be split over {hosts} generator hosts; use one generator host or the client's conns"
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_adds_up_and_stays_within_one() {
        assert_eq!(apportion(100, &[1.0, 1.0]), vec![50, 50]);
        assert_eq!(apportion(7, &[1.0, 1.0]), vec![4, 3]);
        assert_eq!(apportion(10, &[1.0, 1.0, 1.0]), vec![4, 3, 3]);
        assert_eq!(apportion(12, &[1.0, 3.0]), vec![3, 9]);
        assert_eq!(apportion(1, &[1.0, 1.0]), vec![1, 0]);
        assert_eq!(apportion(0, &[1.0, 2.0]), vec![0, 0]);
        assert_eq!(apportion(5, &[1.0, 2.0, 2.0]), vec![1, 2, 2]);
        for total in [1, 2, 3, 17, 100, 1000, 9999] {
            for w in [&[1.0, 2.0, 4.0][..], &[0.3, 0.3, 0.4], &[5.0]] {
                let p = apportion(total, w);
                assert_eq!(p.iter().sum::<usize>(), total);
                let s: f64 = w.iter().sum();
                for (x, wi) in p.iter().zip(w) {
                    assert!((*x as f64 - total as f64 * wi / s).abs() < 1.0);
                }
            }
        }
    }

    #[test]
    fn open_loop_rates_follow_the_connections() {
        let s = split(100, &[20_000.0], &[1.0, 1.0], true);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].conns, s[1].conns), (50, 50));
        assert_eq!(
            (s[0].rates.clone(), s[1].rates.clone()),
            (vec![10_000.0], vec![10_000.0])
        );
        // One request interval of the whole rate (50 µs) apart.
        assert_eq!(s[0].start_offset_ms, 0.0);
        assert!((s[1].start_offset_ms - 0.05).abs() < 1e-12);

        // Steps, unequal weights: the per-connection rate is the whole's.
        let s = split(12, &[1200.0, 2400.0], &[1.0, 3.0], true);
        assert_eq!((s[0].conns, s[1].conns), (3, 9));
        assert_eq!(s[0].rates, vec![300.0, 600.0]);
        assert_eq!(s[1].rates, vec![900.0, 1800.0]);
        for step in 0..2 {
            let sum: f64 = s.iter().map(|x| x.rates[step]).sum();
            assert!((sum - [1200.0, 2400.0][step]).abs() < 1e-9);
        }
    }

    #[test]
    fn closed_loop_shares_connections_and_a_lone_connection_runs_once() {
        let s = split(7, &[], &[1.0, 1.0], false);
        assert_eq!(s.iter().map(|x| x.conns).collect::<Vec<_>>(), vec![4, 3]);
        assert!(
            s.iter()
                .all(|x| x.rates.is_empty() && x.start_offset_ms == 0.0)
        );
        let s = split(1, &[400.0], &[1.0, 1.0, 1.0], true);
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].host, s[0].conns, s[0].rates.clone()),
            (0, 1, vec![400.0])
        );
        // Poisson arrivals need no stagger.
        let s = split(10, &[1000.0], &[1.0, 1.0], false);
        assert!(s.iter().all(|x| x.start_offset_ms == 0.0));
    }

    #[test]
    fn a_mix_with_its_own_connections_is_not_split() {
        assert!(check_mix("main", Some("light:weight=1,size=64"), 2).is_ok());
        assert!(check_mix("main", Some("a:weight=1,conns=2;b:weight=1"), 1).is_ok());
        let e = check_mix("main", Some("a:weight=1;b:weight=1,conns=2"), 2).unwrap_err();
        assert!(
            e.starts_with("client main: its mix fixes per-class connections"),
            "{e}"
        );
        assert!(check_mix("main", None, 3).is_ok());
    }
}
