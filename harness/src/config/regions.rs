//! Where an interval must lie for a verdict. A rule lists regions; the list
//! means their union (adjacent regions merge), and a verdict needs the
//! whole interval inside one connected piece of that union.

use serde::Deserialize;

/// One region as written in claims.toml: `{ below = x }`, `{ above = x }`
/// or `{ within = [a, b] }`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Region {
    /// (−∞, x): the whole interval below x.
    Below(f64),
    /// (x, ∞): the whole interval above x.
    Above(f64),
    /// [a, b]: the whole interval inside.
    Within([f64; 2]),
}

/// One connected piece of a union of regions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Piece {
    pub lo: f64,
    pub lo_closed: bool,
    pub hi: f64,
    pub hi_closed: bool,
}

impl Piece {
    fn of(r: Region) -> Piece {
        match r {
            Region::Below(x) => Piece {
                lo: f64::NEG_INFINITY,
                lo_closed: false,
                hi: x,
                hi_closed: false,
            },
            Region::Above(x) => Piece {
                lo: x,
                lo_closed: false,
                hi: f64::INFINITY,
                hi_closed: false,
            },
            Region::Within([a, b]) => Piece {
                lo: a,
                lo_closed: true,
                hi: b,
                hi_closed: true,
            },
        }
    }

    /// Whether the closed interval [lo, hi] lies wholly inside.
    pub fn contains(&self, lo: f64, hi: f64) -> bool {
        let left = lo > self.lo || (lo == self.lo && self.lo_closed);
        let right = hi < self.hi || (hi == self.hi && self.hi_closed);
        lo <= hi && left && right
    }

    fn is_empty(&self) -> bool {
        self.lo > self.hi || (self.lo == self.hi && !(self.lo_closed && self.hi_closed))
    }
}

/// A union of regions, merged into disjoint connected pieces in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Union {
    pub regions: Vec<Region>,
    pub pieces: Vec<Piece>,
}

impl Union {
    pub fn new(regions: Vec<Region>) -> Result<Union, String> {
        if regions.is_empty() {
            return Err("at least one region".into());
        }
        for r in &regions {
            match *r {
                Region::Below(x) | Region::Above(x) if !x.is_finite() => {
                    return Err("thresholds must be finite numbers".into());
                }
                Region::Within([a, b]) if !(a.is_finite() && b.is_finite()) => {
                    return Err("thresholds must be finite numbers".into());
                }
                Region::Within([a, b]) if a > b => {
                    return Err("'within' needs [low, high] with low <= high".into());
                }
                _ => {}
            }
        }
        let mut ps: Vec<Piece> = regions.iter().map(|r| Piece::of(*r)).collect();
        ps.sort_by(|a, b| {
            a.lo.total_cmp(&b.lo)
                .then((!a.lo_closed).cmp(&!b.lo_closed))
        });
        let mut pieces: Vec<Piece> = Vec::new();
        for p in ps {
            match pieces.last_mut() {
                // Overlapping, or touching where either side includes the point.
                Some(last)
                    if p.lo < last.hi || (p.lo == last.hi && (p.lo_closed || last.hi_closed)) =>
                {
                    if p.hi > last.hi || (p.hi == last.hi && p.hi_closed) {
                        last.hi = p.hi;
                        last.hi_closed = p.hi_closed;
                    }
                }
                _ => pieces.push(p),
            }
        }
        Ok(Union { regions, pieces })
    }

    /// The piece holding the whole closed interval [lo, hi], if any.
    pub fn holding(&self, lo: f64, hi: f64) -> Option<&Piece> {
        self.pieces.iter().find(|p| p.contains(lo, hi))
    }

    /// Whether the two unions share any point.
    pub fn overlaps(&self, other: &Union) -> bool {
        self.pieces.iter().any(|a| {
            other.pieces.iter().any(|b| {
                let (lo, lo_closed) = if a.lo > b.lo || (a.lo == b.lo && !a.lo_closed) {
                    (a.lo, a.lo_closed)
                } else {
                    (b.lo, b.lo_closed)
                };
                let (hi, hi_closed) = if a.hi < b.hi || (a.hi == b.hi && !a.hi_closed) {
                    (a.hi, a.hi_closed)
                } else {
                    (b.hi, b.hi_closed)
                };
                !Piece {
                    lo,
                    lo_closed,
                    hi,
                    hi_closed,
                }
                .is_empty()
            })
        })
    }

    /// Every finite boundary, for margins (A/A control) and plots.
    pub fn boundaries(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .pieces
            .iter()
            .flat_map(|p| [p.lo, p.hi])
            .filter(|x| x.is_finite())
            .collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_regions_merge_into_one_piece() {
        // The example: above 1.1 or within [0.9, 1.1] is [0.9, ∞).
        let u = Union::new(vec![Region::Above(1.1), Region::Within([0.9, 1.1])]).unwrap();
        assert_eq!(u.pieces.len(), 1);
        assert!(u.holding(0.95, 1.15).is_some());
        assert!(u.holding(0.9, 5.0).is_some());
        assert!(u.holding(0.89, 1.0).is_none());
    }

    #[test]
    fn open_ends_that_only_touch_do_not_merge() {
        let u = Union::new(vec![Region::Below(1.0), Region::Above(1.0)]).unwrap();
        assert_eq!(u.pieces.len(), 2);
        assert!(u.holding(0.5, 0.99).is_some());
        assert!(u.holding(0.5, 1.0).is_none());
        assert!(u.holding(1.0, 1.0).is_none());
    }

    #[test]
    fn overlap_is_detected_at_shared_points_only() {
        let s = Union::new(vec![Region::Below(0.9)]).unwrap();
        let r = Union::new(vec![Region::Within([0.9, 1.1])]).unwrap();
        assert!(!s.overlaps(&r));
        let s2 = Union::new(vec![Region::Within([0.5, 0.9])]).unwrap();
        assert!(s2.overlaps(&r));
        let a = Union::new(vec![Region::Above(3.0)]).unwrap();
        let b = Union::new(vec![Region::Below(1.5)]).unwrap();
        assert!(!a.overlaps(&b));
    }

    #[test]
    fn bad_regions_are_refused() {
        assert!(Union::new(vec![]).is_err());
        assert!(Union::new(vec![Region::Within([2.0, 1.0])]).is_err());
        assert!(Union::new(vec![Region::Above(f64::NAN)]).is_err());
        let u = Union::new(vec![Region::Below(0.9), Region::Within([1.2, 2.0])]).unwrap();
        assert_eq!(u.boundaries(), vec![0.9, 1.2, 2.0]);
    }
}
