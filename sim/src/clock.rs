//! Per-node clocks: an offset, a rate error (drift in ppm), bumps and strobes.
//!
//! Model: a node keeps a *monotonic* clock that advances at `1 + drift_ppm / 1e6` times the
//! rate of true simulated time, and a *wall* clock that is the monotonic clock plus an
//! offset plus, while a strobe is active, an oscillating extra offset. Node timers follow
//! the monotonic clock, so a node whose clock runs 1000 ppm fast sees a 1 s timer fire after
//! 0.999 s of true time. Bumps and strobes step the wall clock only, the way
//! `settimeofday` steps `CLOCK_REALTIME` while `CLOCK_MONOTONIC` timers keep running.
//!
//! Not modelled: NTP slewing, leap seconds, and drift that changes during a pending sleep
//! (a sleep's true length is fixed by the rate in force when it starts).

use serde::{Deserialize, Serialize};

const PPM: i128 = 1_000_000;

/// An active strobe: the wall clock is `delta_ns` ahead during every odd `period` since
/// `start_ns`, until `end_ns` (true time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strobe {
    pub delta_ns: i64,
    pub period_ns: u64,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// One node's clock. All `t` arguments are true simulated time in nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeClock {
    /// True time at which the current rate took effect.
    anchor_true: u64,
    /// Monotonic reading at `anchor_true`.
    anchor_mono: i128,
    drift_ppm: i64,
    offset_ns: i64,
    strobe: Option<Strobe>,
}

impl NodeClock {
    /// A clock with the given offset and drift, starting at true time `t`.
    pub fn new(t: u64, offset_ns: i64, drift_ppm: i64) -> Self {
        assert!(
            drift_ppm > -1_000_000,
            "a clock cannot run backwards or stop"
        );
        NodeClock {
            anchor_true: t,
            anchor_mono: i128::from(t),
            drift_ppm,
            offset_ns,
            strobe: None,
        }
    }

    pub fn drift_ppm(&self) -> i64 {
        self.drift_ppm
    }

    pub fn offset_ns(&self) -> i64 {
        self.offset_ns
    }

    /// The node's monotonic clock at true time `t`: drift only, never steps.
    pub fn monotonic(&self, t: u64) -> i128 {
        debug_assert!(t >= self.anchor_true, "clock read before its anchor");
        let dt = i128::from(t - self.anchor_true);
        if self.drift_ppm == 0 {
            // The common case, without the 128-bit division.
            return self.anchor_mono + dt;
        }
        self.anchor_mono + dt * (PPM + i128::from(self.drift_ppm)) / PPM
    }

    /// Extra offset of an active strobe at `t` (zero outside the strobe window).
    fn strobe_offset(&self, t: u64) -> i64 {
        match self.strobe {
            // Odd periods since the start are shifted, even ones are not.
            Some(s)
                if t >= s.start_ns
                    && t < s.end_ns
                    && s.period_ns > 0
                    && ((t - s.start_ns) / s.period_ns) % 2 == 1 =>
            {
                s.delta_ns
            }
            _ => 0,
        }
    }

    /// The node's wall clock at true time `t`, in nanoseconds since the simulation epoch.
    pub fn wall(&self, t: u64) -> i64 {
        let v = self.monotonic(t) + i128::from(self.offset_ns) + i128::from(self.strobe_offset(t));
        v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// True time a timer of `local_ns` on this clock takes: rounded up, so a timer never
    /// fires before the node's own clock says it should.
    pub fn true_duration(&self, local_ns: u64) -> u64 {
        if self.drift_ppm == 0 {
            return local_ns;
        }
        let rate = PPM + i128::from(self.drift_ppm);
        let v = (i128::from(local_ns) * PPM + rate - 1) / rate;
        v.min(i128::from(u64::MAX)) as u64
    }

    /// Changes the rate from true time `t` on; the monotonic clock stays continuous.
    pub fn set_drift(&mut self, t: u64, drift_ppm: i64) {
        assert!(
            drift_ppm > -1_000_000,
            "a clock cannot run backwards or stop"
        );
        self.anchor_mono = self.monotonic(t);
        self.anchor_true = t;
        self.drift_ppm = drift_ppm;
    }

    /// Steps the wall clock by `delta_ns` (negative jumps back).
    pub fn bump(&mut self, delta_ns: i64) {
        self.offset_ns = self.offset_ns.saturating_add(delta_ns);
    }

    /// Sets the wall clock's offset outright.
    pub fn set_offset(&mut self, offset_ns: i64) {
        self.offset_ns = offset_ns;
    }

    /// Oscillates the wall clock between its offset and offset + `delta_ns`, switching every
    /// `period_ns`, for `duration_ns` from `t`.
    pub fn strobe(&mut self, t: u64, delta_ns: i64, period_ns: u64, duration_ns: u64) {
        assert!(period_ns > 0, "a strobe needs a positive period");
        self.strobe = Some(Strobe {
            delta_ns,
            period_ns,
            start_ns: t,
            end_ns: t.saturating_add(duration_ns),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn offset_shifts_wall_clock_only() {
        let c = NodeClock::new(0, 5_000_000, 0);
        assert_eq!(c.wall(SEC), SEC as i64 + 5_000_000);
        assert_eq!(c.monotonic(SEC), i128::from(SEC));
        assert_eq!(c.true_duration(SEC), SEC);
    }

    #[test]
    fn fast_clock_reads_ahead_and_fires_timers_early() {
        let c = NodeClock::new(0, 0, 1000);
        // After 1 s of true time the node believes 1.001 s passed.
        assert_eq!(c.wall(SEC), 1_001_000_000);
        // Its 1 s timer fires after 0.999 s of true time (999_001_000 ns: 999_000_999.001 rounded up).
        let d = c.true_duration(SEC);
        assert_eq!(d, 999_001_000);
        assert!(c.monotonic(d) >= i128::from(SEC));
        assert!(c.monotonic(d - 1) < i128::from(SEC));
    }

    #[test]
    fn slow_clock_fires_timers_late() {
        let c = NodeClock::new(0, 0, -500);
        assert_eq!(c.wall(SEC), 999_500_000);
        assert_eq!(c.true_duration(SEC), 1_000_500_251);
    }

    #[test]
    fn drift_change_keeps_monotonic_continuous() {
        let mut c = NodeClock::new(0, 0, 0);
        c.set_drift(SEC, 100_000); // 10% fast from t = 1 s
        assert_eq!(c.monotonic(SEC), i128::from(SEC));
        assert_eq!(c.monotonic(2 * SEC), i128::from(SEC) + 1_100_000_000);
    }

    #[test]
    fn bump_steps_wall_clock_both_ways() {
        let mut c = NodeClock::new(0, 0, 0);
        c.bump(-3 * SEC as i64);
        assert_eq!(c.wall(SEC), -2 * SEC as i64);
        c.bump(10 * SEC as i64);
        assert_eq!(c.wall(SEC), 8 * SEC as i64);
        // Timers are not affected by steps.
        assert_eq!(c.true_duration(SEC), SEC);
    }

    #[test]
    fn strobe_alternates_within_its_window() {
        let mut c = NodeClock::new(0, 0, 0);
        let ms = 1_000_000u64;
        c.strobe(100 * ms, 50 * ms as i64, 10 * ms, 40 * ms);
        let skew = |t: u64| c.wall(t) - t as i64;
        assert_eq!(skew(99 * ms), 0); // before
        assert_eq!(skew(105 * ms), 0); // first period: base
        assert_eq!(skew(115 * ms), 50 * ms as i64); // second: shifted
        assert_eq!(skew(125 * ms), 0);
        assert_eq!(skew(135 * ms), 50 * ms as i64);
        assert_eq!(skew(140 * ms), 0); // window over
        assert_eq!(skew(500 * ms), 0);
    }
}
