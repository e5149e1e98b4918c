//! The task record's timestamps in JSON, written and read without chrono's
//! general formatter and parser.
//!
//! A lifecycle encodes and decodes every stored task several times, each with
//! up to six timestamps. chrono writes one through `fmt` into serde_json's
//! escaping adapter a character at a time, and reads one with its relaxed
//! RFC 3339 parser: together about a tenth of the writer's CPU per
//! transition (docs/PERFORMANCE.md, "Where the engine's time goes").
//!
//! The bytes are chrono's, exactly: `YYYY-MM-DDTHH:MM:SS`, then `.mmm`,
//! `.uuuuuu` or `.nnnnnnnnn` when the fraction needs it (chrono's
//! `SecondsFormat::AutoSi`), then `Z`. Reading takes that form fast and hands
//! any other text (an offset, a year past 9999, a leap second, a typo) to
//! chrono, so what is accepted, and every error message, stays chrono's. A
//! property test holds both sides to chrono's.
//!
//! Used as `#[serde(with = "crate::timestamp")]` (and `timestamp::option`).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Timelike, Utc};
use serde::{de, Deserializer, Serializer};
use std::fmt;

/// Longest text written here: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const LONGEST: usize = 30;

pub(crate) fn serialize<S: Serializer>(
    at: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; LONGEST];
    match write(at, &mut buf) {
        // Only ASCII digits and separators were written.
        Some(len) => serializer.serialize_str(std::str::from_utf8(&buf[..len]).unwrap_or_default()),
        None => serde::Serialize::serialize(at, serializer),
    }
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<DateTime<Utc>, D::Error> {
    deserializer.deserialize_str(Visitor)
}

/// For `Option<DateTime<Utc>>` fields; `null` is `None`. Such a field also
/// needs `#[serde(default)]`: serde fills in a missing `Option` by itself
/// only when no `with` is given.
pub(crate) mod option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_some(&Utc3339(at)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        deserializer.deserialize_option(OptionVisitor)
    }

    struct Utc3339<'a>(&'a DateTime<Utc>);

    impl serde::Serialize for Utc3339<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            super::serialize(self.0, serializer)
        }
    }

    struct OptionVisitor;

    impl<'de> de::Visitor<'de> for OptionVisitor {
        type Value = Option<DateTime<Utc>>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an RFC 3339 formatted date and time string, or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

struct Visitor;

impl de::Visitor<'_> for Visitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        // chrono's words, so a bad value reads as it did.
        f.write_str("an RFC 3339 formatted date and time string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        match parse(text.as_bytes()) {
            Some(at) => Ok(at),
            None => text
                .parse::<DateTime<FixedOffset>>()
                .map(|at| at.with_timezone(&Utc))
                .map_err(E::custom),
        }
    }
}

/// Writes `at` as chrono would into `buf`; `None` for a year outside
/// 0..=9999 (chrono adds a sign) or a leap second, left to chrono.
fn write(at: &DateTime<Utc>, buf: &mut [u8; LONGEST]) -> Option<usize> {
    use chrono::Datelike;
    let (date, time) = (at.date_naive(), at.time());
    let year = date.year();
    let nano = time.nanosecond();
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        return None;
    }
    let mut put = |at: usize, value: u32, digits: usize| {
        let mut v = value;
        for i in (0..digits).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year as u32, 4);
    put(5, date.month(), 2);
    put(8, date.day(), 2);
    put(11, time.hour(), 2);
    put(14, time.minute(), 2);
    put(17, time.second(), 2);
    let (fraction, digits) = if nano == 0 {
        (0, 0)
    } else if nano % 1_000_000 == 0 {
        (nano / 1_000_000, 3)
    } else if nano % 1_000 == 0 {
        (nano / 1_000, 6)
    } else {
        (nano, 9)
    };
    put(20, fraction, digits);
    for (i, c) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
        buf[i] = c;
    }
    let mut len = 19;
    if digits > 0 {
        buf[19] = b'.';
        len = 20 + digits;
    }
    buf[len] = b'Z';
    Some(len + 1)
}

/// Reads exactly the form [`write`] writes; `None` for anything else (even
/// when chrono would accept it).
fn parse(text: &[u8]) -> Option<DateTime<Utc>> {
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = text.get(from..from + n)?;
        part.iter().try_fold(0u32, |v, c| {
            c.is_ascii_digit().then(|| v * 10 + u32::from(c - b'0'))
        })
    };
    let at = |i: usize, c: u8| text.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let nano = match text.len() {
        20 => 0,
        24 if at(19, b'.') => digits(20, 3)? * 1_000_000,
        27 if at(19, b'.') => digits(20, 6)? * 1_000,
        30 if at(19, b'.') => digits(20, 9)?,
        _ => return None,
    };
    if text.last() != Some(&b'Z') {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(digits(0, 4)? as i32, digits(5, 2)?, digits(8, 2)?)?;
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    // A leap second (60) is left to chrono, which reads it its own way.
    if second > 59 {
        return None;
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nano)?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Ours {
        #[serde(with = "super")]
        at: DateTime<Utc>,
        #[serde(default, with = "super::option")]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Chronos {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    /// Any instant chrono can hold, with fractions of each width chrono writes.
    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        let seconds = -8_334_601_228_800i64..=8_210_266_876_799;
        let nanos = prop_oneof![
            Just(0u32),
            (0u32..1000).prop_map(|ms| ms * 1_000_000),
            (0u32..1_000_000).prop_map(|us| us * 1_000),
            0u32..1_000_000_000,
            // A leap second, as chrono represents one.
            1_000_000_000u32..2_000_000_000,
        ];
        (seconds, nanos).prop_filter_map("a representable instant", |(s, n)| {
            DateTime::from_timestamp(s, n)
        })
    }

    fn chrono_reads(json: &str) -> Result<Chronos, String> {
        serde_json::from_str::<Chronos>(json).map_err(|e| e.to_string())
    }

    fn we_read(json: &str) -> Result<Ours, String> {
        serde_json::from_str::<Ours>(json).map_err(|e| e.to_string())
    }

    proptest! {
        #[test]
        fn writes_the_bytes_chrono_writes_and_reads_them_back(at in instant(), some in any::<bool>()) {
            let maybe = some.then_some(at);
            let ours = serde_json::to_string(&Ours { at, maybe }).unwrap();
            let chronos = serde_json::to_string(&Chronos { at, maybe }).unwrap();
            prop_assert_eq!(&ours, &chronos);
            prop_assert_eq!(we_read(&ours).unwrap(), Ours { at, maybe });
        }

        #[test]
        fn reads_any_text_as_chrono_does(text in "[0-9]{4}-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{1,10})?(Z|z|[+-][01][0-9]:[0-5][0-9])?") {
            let json = format!(r#"{{"at":"{text}","maybe":"{text}"}}"#);
            let ours = we_read(&json).map(|o| (o.at, o.maybe));
            let chronos = chrono_reads(&json).map(|c| (c.at, c.maybe));
            prop_assert_eq!(ours, chronos);
        }
    }

    #[test]
    fn refuses_what_chrono_refuses_in_its_words() {
        for text in [
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "yesterday",
            "",
        ] {
            let json = format!(r#"{{"at":"{text}","maybe":null}}"#);
            let ours = we_read(&json).unwrap_err();
            assert_eq!(ours, chrono_reads(&json).unwrap_err(), "{text}");
        }
        // Not a string at all.
        assert_eq!(
            we_read(r#"{"at":5,"maybe":null}"#).unwrap_err(),
            chrono_reads(r#"{"at":5,"maybe":null}"#).unwrap_err()
        );
    }

    #[test]
    fn a_missing_or_null_optional_timestamp_is_none() {
        let at = "2026-12-05T14:15:20.123Z";
        for json in [
            format!(r#"{{"at":"{at}"}}"#),
            format!(r#"{{"at":"{at}","maybe":null}}"#),
        ] {
            assert_eq!(we_read(&json).unwrap().maybe, None);
        }
    }
}
