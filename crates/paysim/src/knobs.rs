//! How slow, unreliable and disorderly the simulated processor is. The same knobs
//! configure `boxoffice payment-sim`, the in-process simulator and `POST /_sim/knobs`.
use serde::{Deserialize, Serialize};

/// Behaviour of the payment simulator: how slow, how unreliable, how disorderly its
/// webhooks. Shared by `boxoffice payment-sim` and the in-process simulator.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulatorKnobs {
    /// Delay before every API answer.
    pub latency_ms: u64,
    /// Time from an accepted intent to its result (and webhook).
    pub processing_ms: u64,
    /// Share of intents declined (0.0–1.0), besides the test cards that always are.
    pub failure_rate: f64,
    /// Share of API calls that take effect but answer too late for the caller.
    pub timeout_rate: f64,
    /// Share of webhooks delivered twice.
    pub duplicate_rate: f64,
    /// Up to this much random extra delay per webhook, so they arrive out of order.
    pub reorder_ms: u64,
}

impl Default for SimulatorKnobs {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            processing_ms: 20,
            failure_rate: 0.0,
            timeout_rate: 0.0,
            duplicate_rate: 0.0,
            reorder_ms: 0,
        }
    }
}

impl SimulatorKnobs {
    /// Rates are shares between 0 and 1; anything else is refused with the knob's name.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("failure_rate", self.failure_rate),
            ("timeout_rate", self.timeout_rate),
            ("duplicate_rate", self.duplicate_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        Ok(())
    }
}

/// A change of knobs at run time: only the fields present change. `down` switches
/// the whole API to 503 (and back), for tests of circuit breakers.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KnobsUpdate {
    pub latency_ms: Option<u64>,
    pub processing_ms: Option<u64>,
    pub failure_rate: Option<f64>,
    pub timeout_rate: Option<f64>,
    pub duplicate_rate: Option<f64>,
    pub reorder_ms: Option<u64>,
    pub down: Option<bool>,
}

impl KnobsUpdate {
    /// The knobs after this change (not yet validated).
    pub fn apply(&self, knobs: &SimulatorKnobs) -> SimulatorKnobs {
        SimulatorKnobs {
            latency_ms: self.latency_ms.unwrap_or(knobs.latency_ms),
            processing_ms: self.processing_ms.unwrap_or(knobs.processing_ms),
            failure_rate: self.failure_rate.unwrap_or(knobs.failure_rate),
            timeout_rate: self.timeout_rate.unwrap_or(knobs.timeout_rate),
            duplicate_rate: self.duplicate_rate.unwrap_or(knobs.duplicate_rate),
            reorder_ms: self.reorder_ms.unwrap_or(knobs.reorder_ms),
        }
    }
}

/// The knobs as `GET /_sim/knobs` shows them.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct KnobsView {
    #[serde(flatten)]
    pub knobs: SimulatorKnobs,
    pub down: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_changes_only_what_it_names_and_rates_are_bounded() {
        let base = SimulatorKnobs::default();
        let update: KnobsUpdate = serde_json::from_str(r#"{"failure_rate":0.5}"#).unwrap();
        let next = update.apply(&base);
        assert_eq!(next.failure_rate, 0.5);
        assert_eq!(next.processing_ms, base.processing_ms);
        assert!(next.validate().is_ok());
        let too_much = KnobsUpdate {
            duplicate_rate: Some(1.5),
            ..KnobsUpdate::default()
        };
        assert_eq!(
            too_much.apply(&base).validate(),
            Err("duplicate_rate must be between 0 and 1".into())
        );
        let nan = KnobsUpdate {
            timeout_rate: Some(f64::NAN),
            ..KnobsUpdate::default()
        };
        assert!(nan.apply(&base).validate().is_err());
        assert!(serde_json::from_str::<KnobsUpdate>(r#"{"latency":1}"#).is_err());
    }
}
