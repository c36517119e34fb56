//! Batch sizes that keep the progress bar (and Ctrl-C) responsive: the run
//! loop caps each batch of steps at what it measured to take about
//! `TARGET_S` of wall time, so a slow grid still reports at least once a
//! second, while a fast backend keeps its large batches.

use std::time::Duration;

/// Wall time one batch aims at, seconds.
pub const TARGET_S: f64 = 0.5;

/// Measured cost per step, updated after every batch.
#[derive(Debug, Default)]
pub struct Pace {
    seconds_per_step: Option<f64>,
}

impl Pace {
    /// Most steps the next batch should take (at least 1; unlimited until
    /// the first batch is measured).
    pub fn cap(&self) -> u64 {
        match self.seconds_per_step {
            Some(s) if s > 0.0 => ((TARGET_S / s) as u64).max(1),
            _ => u64::MAX,
        }
    }

    /// Record that `steps` steps took `elapsed`.
    pub fn record(&mut self, steps: u64, elapsed: Duration) {
        if steps > 0 {
            self.seconds_per_step = Some(elapsed.as_secs_f64() / steps as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_steps_get_small_batches() {
        let mut p = Pace::default();
        assert_eq!(p.cap(), u64::MAX);
        p.record(96, Duration::from_secs(96));
        assert_eq!(p.cap(), 1);
        p.record(100, Duration::from_millis(100));
        assert_eq!(p.cap(), 500);
    }
}
