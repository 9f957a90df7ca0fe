//! Units read from metric names (the project puts them there: `_us`,
//! `_bytes`, `_rps`...) and human formatting of values in those units, so
//! every number the report, the plots and `harness diff` print carries one.

/// The unit of a metric, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Microseconds of latency or time.
    Micros,
    Nanos,
    Millis,
    Seconds,
    Bytes,
    /// Requests per second.
    Rps,
    /// CPU microseconds per request.
    CpuMicrosPerRequest,
    SwitchesPerRequest,
    BytesPerConn,
    Threads,
    /// A dimensionless ratio of two values.
    Ratio,
    /// A plain count or anything unknown.
    Plain,
}

pub fn unit_of(metric: &str) -> Unit {
    let last = metric.rsplit('.').next().unwrap_or(metric);
    if metric.contains("cpu_us_per_request") {
        Unit::CpuMicrosPerRequest
    } else if metric.contains("ctx_switches_per_request")
        || metric.contains("ctx_voluntary_per_request")
    {
        Unit::SwitchesPerRequest
    } else if metric.contains("bytes_per_conn") {
        Unit::BytesPerConn
    } else if metric.contains("latency_us.")
        || metric.contains("send_lag_us.")
        || last.ends_with("_us")
        || last.contains("_us_")
    {
        Unit::Micros
    } else if last.ends_with("_ns") || last.starts_with("ns_") || last.contains("_ns_") {
        Unit::Nanos
    } else if last.ends_with("_rps") {
        Unit::Rps
    } else if last.contains("bytes") {
        Unit::Bytes
    } else if last.ends_with("_s") {
        Unit::Seconds
    } else if last.ends_with("_ms") {
        Unit::Millis
    } else if last.starts_with("threads") || last.ends_with("threads") || last.contains("_threads")
    {
        Unit::Threads
    } else {
        Unit::Plain
    }
}

impl Unit {
    /// The unit's name for an axis or a table header.
    pub fn label(self) -> &'static str {
        match self {
            Unit::Micros => "µs",
            Unit::Nanos => "ns",
            Unit::Millis => "ms",
            Unit::Seconds => "s",
            Unit::Bytes => "bytes",
            Unit::Rps => "req/s",
            Unit::CpuMicrosPerRequest => "CPU µs/request",
            Unit::SwitchesPerRequest => "context switches/request",
            Unit::BytesPerConn => "bytes/connection",
            Unit::Threads => "OS threads",
            Unit::Ratio => "ratio",
            Unit::Plain => "",
        }
    }

    /// `x` in this unit, scaled to a readable magnitude with 3 significant digits.
    pub fn fmt(self, x: f64) -> String {
        if !x.is_finite() {
            return "n/a".into();
        }
        match self {
            Unit::Micros => time_us(x),
            Unit::Nanos => {
                if x.abs() >= 1000.0 {
                    time_us(x / 1000.0)
                } else {
                    format!("{} ns", sig(x))
                }
            }
            Unit::Millis => time_us(x * 1e3),
            Unit::Seconds => time_us(x * 1e6),
            Unit::Bytes => bytes(x),
            Unit::BytesPerConn => format!("{}/conn", bytes(x)),
            Unit::Rps => format!("{} req/s", si(x)),
            Unit::CpuMicrosPerRequest => format!("{} µs/req", sig(x)),
            Unit::SwitchesPerRequest => format!("{}/req", sig(x)),
            Unit::Threads => format!("{} threads", sig(x)),
            Unit::Ratio => format!("{}×", sig(x)),
            Unit::Plain => sig(x),
        }
    }
}

/// Three significant digits, no exponent for everyday magnitudes.
pub fn sig(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return if x == 0.0 { "0".into() } else { "n/a".into() };
    }
    let mag = x.abs().log10().floor() as i32;
    if !(-4..9).contains(&mag) {
        return format!("{x:.2e}");
    }
    let decimals = (2 - mag).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// 1234 -> 1.23k, 1.5e6 -> 1.5M.
pub fn si(x: f64) -> String {
    let a = x.abs();
    if a >= 1e9 {
        format!("{}G", sig(x / 1e9))
    } else if a >= 1e6 {
        format!("{}M", sig(x / 1e6))
    } else if a >= 1e4 {
        format!("{}k", sig(x / 1e3))
    } else {
        sig(x)
    }
}

pub fn time_us(us: f64) -> String {
    let a = us.abs();
    if a >= 1e6 {
        format!("{} s", sig(us / 1e6))
    } else if a >= 1e3 {
        format!("{} ms", sig(us / 1e3))
    } else if a >= 1.0 || a == 0.0 {
        format!("{} µs", sig(us))
    } else {
        format!("{} ns", sig(us * 1e3))
    }
}

pub fn bytes(b: f64) -> String {
    let a = b.abs();
    if a >= (1u64 << 30) as f64 {
        format!("{} GiB", sig(b / (1u64 << 30) as f64))
    } else if a >= (1u64 << 20) as f64 {
        format!("{} MiB", sig(b / (1u64 << 20) as f64))
    } else if a >= 1024.0 {
        format!("{} KiB", sig(b / 1024.0))
    } else {
        format!("{} B", sig(b))
    }
}

/// A ratio as a signed percentage change: 1.05 -> "+5.0 %", 0.8 -> "−20 %".
pub fn pct_change(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "n/a".into();
    }
    let p = (ratio - 1.0) * 100.0;
    let s = sig(p.abs());
    if p > 0.0 {
        format!("+{s} %")
    } else if p < 0.0 {
        format!("−{s} %")
    } else {
        "0 %".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_come_from_names() {
        assert_eq!(unit_of("main.latency_us.corrected.p99"), Unit::Micros);
        assert_eq!(
            unit_of("main.classes.light.latency_us.corrected.p99"),
            Unit::Micros
        );
        assert_eq!(
            unit_of("server.cpu_us_per_request"),
            Unit::CpuMicrosPerRequest
        );
        assert_eq!(
            unit_of("server.step2.ctx_switches_per_request"),
            Unit::SwitchesPerRequest
        );
        assert_eq!(unit_of("server.rss_bytes_per_conn"), Unit::BytesPerConn);
        assert_eq!(unit_of("server.rss_peak_bytes"), Unit::Bytes);
        assert_eq!(unit_of("main.step1.achieved_rps"), Unit::Rps);
        assert_eq!(unit_of("server.threads_peak"), Unit::Threads);
        assert_eq!(unit_of("server.threads_settle_s"), Unit::Seconds);
        assert_eq!(unit_of("spawn.default.ns_per_spawn"), Unit::Nanos);
        assert_eq!(unit_of("main.errors.total"), Unit::Plain);
    }

    #[test]
    fn values_are_scaled_and_rounded() {
        assert_eq!(Unit::Micros.fmt(850.0), "850 µs");
        assert_eq!(Unit::Micros.fmt(12_345.0), "12.3 ms");
        assert_eq!(Unit::Micros.fmt(2_500_000.0), "2.5 s");
        assert_eq!(Unit::Bytes.fmt(3.5 * 1024.0 * 1024.0), "3.5 MiB");
        assert_eq!(Unit::Rps.fmt(123_456.0), "123k req/s");
        assert_eq!(Unit::Ratio.fmt(0.8234), "0.823×");
        assert_eq!(Unit::Micros.fmt(f64::NAN), "n/a");
        assert_eq!(sig(1.0), "1");
        assert_eq!(sig(0.012345), "0.0123");
        assert_eq!(pct_change(1.05), "+5 %");
        assert_eq!(pct_change(0.8), "−20 %");
    }
}
