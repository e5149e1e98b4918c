//! `NewTask`'s fields as typed on a command line (feature `clap`): each parser
//! gives the engine's own sentence for a bad value, the one the API answers
//! with, so the CLI refuses it before anything is opened or sent.

use crate::error::TaskError;
use crate::task::{
    max_attempts_out_of_range, max_tokens_out_of_range, validate_generation, validate_timeout,
    MAX_ATTEMPTS_RANGE,
};
use std::time::Duration;

/// `--max-attempts N`, within [`MAX_ATTEMPTS_RANGE`].
pub fn max_attempts(text: &str) -> Result<u32, TaskError> {
    let n = whole_number(text).ok_or_else(|| max_attempts_out_of_range(format!("'{text}'")))?;
    u32::try_from(n)
        .ok()
        .filter(|n| MAX_ATTEMPTS_RANGE.contains(n))
        .ok_or_else(|| max_attempts_out_of_range(n))
}

/// `--fallback PROVIDER[:MODEL]`: whether the provider exists is checked by the engine.
pub fn target(text: &str) -> Result<crate::task::Target, TaskError> {
    text.parse()
}

/// `--fallback-after N`, within [`MAX_ATTEMPTS_RANGE`].
pub(crate) fn fallback_after(text: &str) -> Result<u32, TaskError> {
    let n = whole_number(text)
        .ok_or_else(|| crate::task::fallback_after_out_of_range(format!("'{text}'")))?;
    u32::try_from(n)
        .ok()
        .filter(|n| MAX_ATTEMPTS_RANGE.contains(n))
        .ok_or_else(|| crate::task::fallback_after_out_of_range(n))
}

/// `--max-tokens N`, from 1 to [`crate::MAX_TOKENS_LIMIT`].
pub(crate) fn max_tokens(text: &str) -> Result<u32, TaskError> {
    let n = whole_number(text).ok_or_else(|| max_tokens_out_of_range(format!("'{text}'")))?;
    let n = u32::try_from(n).map_err(|_| max_tokens_out_of_range(n))?;
    validate_generation(None, None, Some(n))?;
    Ok(n)
}

/// `--timeout DURATION` (`90s`, `10m`, `1h30m`), as `timeout_ms`.
pub(crate) fn timeout_ms(text: &str) -> Result<u64, TaskError> {
    let timeout = humantime::parse_duration(text.trim()).map_err(|_| {
        TaskError::invalid(
            "timeout_ms",
            format!("--timeout '{text}' is not a duration; write it like 30s, 5m or 1h30m"),
        )
    })?;
    validate_timeout(timeout)?;
    // Checked again in whole milliseconds, the unit kept: `500us` is zero.
    let ms = timeout.as_millis() as u64;
    validate_timeout(Duration::from_millis(ms))?;
    Ok(ms)
}

/// `--temperature F`, from 0 to 2. NaN and infinities, which JSON cannot carry,
/// are refused here like any value out of range.
pub(crate) fn temperature(text: &str) -> Result<f64, TaskError> {
    let t = text.trim().parse::<f64>().map_err(|_| {
        TaskError::invalid(
            "temperature",
            format!("the temperature must be between 0 and 2, got '{text}'"),
        )
    })?;
    validate_generation(None, Some(t), None)?;
    Ok(t)
}

/// `--output-schema FILE`: the file read and parsed as JSON; the schema itself
/// is checked with the task.
pub(crate) fn output_schema(path: &str) -> Result<serde_json::Value, TaskError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        TaskError::invalid(
            "output_schema",
            format!("cannot read the output schema file '{path}': {e}"),
        )
    })?;
    let schema: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        TaskError::invalid(
            "output_schema",
            format!("the output schema file '{path}' is not valid JSON: {e}"),
        )
    })?;
    crate::structured::check_schema(&schema)?;
    Ok(schema)
}

/// A whole number of any size, so an out-of-range one is named as such.
fn whole_number(text: &str) -> Option<i128> {
    text.trim().parse::<i128>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_refused_with_the_engines_range_sentence() {
        for (text, says) in [
            ("0", "max_attempts must be between 1 and 20, got 0"),
            ("21", "max_attempts must be between 1 and 20, got 21"),
            ("-1", "max_attempts must be between 1 and 20, got -1"),
            (
                "99999999999",
                "max_attempts must be between 1 and 20, got 99999999999",
            ),
            ("two", "max_attempts must be between 1 and 20, got 'two'"),
        ] {
            assert_eq!(max_attempts(text).unwrap_err().to_string(), says);
        }
        assert_eq!(max_attempts(" 4 ").unwrap(), 4);
        assert_eq!(
            max_tokens("0").unwrap_err().to_string(),
            "max_tokens must be between 1 and 1000000, got 0"
        );
        assert_eq!(
            max_tokens("-5").unwrap_err().to_string(),
            "max_tokens must be between 1 and 1000000, got -5"
        );
        assert_eq!(max_tokens("512").unwrap(), 512);
        for bad in ["NaN", "inf", "3", "-0.5", "warm"] {
            let err = temperature(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("the temperature must be between 0 and 2"),
                "{bad}: {err}"
            );
        }
        assert_eq!(temperature("0.7").unwrap(), 0.7);
    }

    #[test]
    fn timeouts_are_durations_kept_in_milliseconds_within_a_day() {
        assert_eq!(timeout_ms("90s").unwrap(), 90_000);
        assert_eq!(timeout_ms("1h30m").unwrap(), 5_400_000);
        assert_eq!(timeout_ms("24h").unwrap(), 86_400_000);
        for (text, says) in [
            ("0", "the timeout must be longer than zero"),
            ("500us", "the timeout must be longer than zero"),
            ("24h 1s", "the timeout must be at most 24 hours, got 86401s"),
            ("soon", "--timeout 'soon' is not a duration"),
        ] {
            let err = timeout_ms(text).unwrap_err();
            assert!(err.to_string().starts_with(says), "{text}: {err}");
            assert!(matches!(
                err,
                TaskError::Invalid {
                    field: "timeout_ms",
                    ..
                }
            ));
        }
    }
}
