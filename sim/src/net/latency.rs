//! Link latency distributions. Reordering is not a separate knob: it follows from
//! random latency, as on a real network where two packets take different times.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::duration::Nanos;

/// How long a message takes on a link.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Latency {
    /// Always the same.
    Fixed { value: Nanos },
    /// Uniform in `[min, max]`.
    Uniform { min: Nanos, max: Nanos },
    /// `floor` plus an exponential tail with the given mean: most messages are quick, a
    /// few are very late.
    Exponential { floor: Nanos, mean: Nanos },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Uniform {
            min: Nanos::from_millis(1),
            max: Nanos::from_millis(5),
        }
    }
}

impl Latency {
    pub fn sample(&self, rng: &mut impl Rng) -> u64 {
        match *self {
            Latency::Fixed { value } => value.0,
            Latency::Uniform { min, max } => {
                if max.0 <= min.0 {
                    min.0
                } else {
                    rng.gen_range(min.0..=max.0)
                }
            }
            Latency::Exponential { floor, mean } => {
                // Inverse CDF; 1 - u is in (0, 1] so ln never sees zero.
                let u: f64 = rng.gen();
                let tail = -(1.0 - u).ln() * mean.0 as f64;
                floor.0.saturating_add(tail.min(1e15) as u64)
            }
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Latency::Uniform { min, max } if max < min => {
                Err(format!("uniform latency has max {max} below min {min}"))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn samples_respect_bounds() {
        let mut rng = stream(1, "t");
        let u = Latency::Uniform {
            min: Nanos(100),
            max: Nanos(200),
        };
        let e = Latency::Exponential {
            floor: Nanos(1000),
            mean: Nanos(500),
        };
        let mut sum = 0u64;
        for _ in 0..10_000 {
            let x = u.sample(&mut rng);
            assert!((100..=200).contains(&x));
            let y = e.sample(&mut rng);
            assert!(y >= 1000);
            sum += y - 1000;
        }
        let mean = sum / 10_000;
        assert!((400..600).contains(&mean), "exponential tail mean {mean}");
        assert_eq!(Latency::Fixed { value: Nanos(7) }.sample(&mut rng), 7);
    }
}
