//! An endpoint's configuration (spec secretshare.md §2.3): validation, the
//! derived decodable batch size, and the config digest every party computes
//! identically.

use ring::digest::{SHA256, digest};

use super::config::{MAX_VECTOR_LENGTH, SecretShareConfig};
use super::field::{HALF, P};
use crate::auth::token::hex;

/// How a real value becomes an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Integer,
    FixedPoint,
}

impl Encoding {
    /// The spelling stored and digested.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Integer => "integer",
            Encoding::FixedPoint => "fixed_point",
        }
    }

    /// From the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "integer" => Some(Encoding::Integer),
            "fixed_point" => Some(Encoding::FixedPoint),
            _ => None,
        }
    }
}

/// Everything that affects correctness or privacy: the digested configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    pub name: String,
    pub vector_length: u32,
    pub encoding: Encoding,
    pub decimal_scale: u32,
    pub min_value: i64,
    pub max_value: i64,
    pub min_batch_size: u32,
    /// 0: unlimited.
    pub max_submissions_per_contributor: u32,
}

/// An endpoint to create, as the caller asked for it (defaults not yet applied).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawEndpoint {
    pub name: String,
    pub description: String,
    pub vector_length: u32,
    /// `None`: not set (rejected).
    pub encoding: Option<Encoding>,
    /// `false` for a field other than Field64.
    pub field_supported: bool,
    pub decimal_scale: u32,
    pub min_value: i64,
    pub max_value: i64,
    pub min_batch_size: Option<u32>,
    pub max_submissions_per_contributor: Option<u32>,
}

/// An invalid field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid { field, message: message.into() }
}

/// `^[A-Za-z][A-Za-z0-9_-]{0,63}$`.
pub fn check_name(name: &str) -> Result<(), Invalid> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if first_ok && rest_ok && name.len() <= 64 {
        Ok(())
    } else {
        Err(invalid(
            "name",
            format!(
                "'{}' is not an endpoint name: a letter, then up to 63 letters, digits, '_' or '-'",
                name.chars().take(80).collect::<String>()
            ),
        ))
    }
}

/// The largest batch whose sum decodes exactly (§2.2); 0 when both bounds are 0.
pub fn max_decodable_batch_size(min_value: i64, max_value: i64) -> u64 {
    match min_value.unsigned_abs().max(max_value.unsigned_abs()) {
        0 => 0,
        largest => HALF / largest,
    }
}

impl RawEndpoint {
    /// Validates and applies the server's defaults; every failure names its field.
    pub fn validate(self, settings: &SecretShareConfig) -> Result<(EndpointConfig, String), Invalid> {
        check_name(&self.name)?;
        if self.description.chars().count() > 2000 {
            return Err(invalid("description", "is longer than 2,000 characters"));
        }
        if !(1..=MAX_VECTOR_LENGTH).contains(&self.vector_length) {
            return Err(invalid(
                "vector_length",
                format!("{} is not from 1 to {MAX_VECTOR_LENGTH}", self.vector_length),
            ));
        }
        if !self.field_supported {
            return Err(invalid("field", "only FIELD_FIELD64 is supported"));
        }
        let encoding = self
            .encoding
            .ok_or_else(|| invalid("encoding", "is required: VALUE_ENCODING_INTEGER or VALUE_ENCODING_FIXED_POINT"))?;
        match encoding {
            Encoding::Integer if self.decimal_scale != 0 => {
                return Err(invalid("decimal_scale", "must be 0 for integer encoding"));
            }
            Encoding::FixedPoint if !(1..=12).contains(&self.decimal_scale) => {
                return Err(invalid(
                    "decimal_scale",
                    format!("{} is not from 1 to 12 (fixed-point digits)", self.decimal_scale),
                ));
            }
            _ => {}
        }
        for (field, bound) in [("min_value", self.min_value), ("max_value", self.max_value)] {
            if bound.unsigned_abs() > HALF {
                return Err(invalid(field, format!("{bound} is outside ±{HALF} ((p − 1) / 2)")));
            }
        }
        if self.min_value > self.max_value {
            return Err(invalid("min_value", format!("{} is above max_value {}", self.min_value, self.max_value)));
        }
        let decodable = max_decodable_batch_size(self.min_value, self.max_value);
        let limit = match decodable {
            0 => u64::from(settings.max_batch_size),
            d => d.min(u64::from(settings.max_batch_size)),
        };
        let min_batch_size = self.min_batch_size.unwrap_or(settings.default_min_batch_size);
        if min_batch_size < 2 || u64::from(min_batch_size) > limit {
            return Err(invalid(
                "min_batch_size",
                format!("{min_batch_size} is not from 2 to {limit} (the largest batch this endpoint can seal)"),
            ));
        }
        let config = EndpointConfig {
            name: self.name,
            vector_length: self.vector_length,
            encoding,
            decimal_scale: self.decimal_scale,
            min_value: self.min_value,
            max_value: self.max_value,
            min_batch_size,
            max_submissions_per_contributor: self.max_submissions_per_contributor.unwrap_or(1),
        };
        Ok((config, self.description))
    }
}

impl EndpointConfig {
    /// The config digest (§2.3) for `party_count` parties.
    pub fn digest(&self, party_count: u32) -> String {
        let text = format!(
            "steward-secretshare-endpoint/v1\nname={}\nparty_count={party_count}\nfield=field64\nmodulus={P}\n\
             vector_length={}\nencoding={}\ndecimal_scale={}\nmin_value={}\nmax_value={}\nmin_batch_size={}\n\
             max_submissions_per_contributor={}\n",
            self.name,
            self.vector_length,
            self.encoding.as_str(),
            self.decimal_scale,
            self.min_value,
            self.max_value,
            self.min_batch_size,
            self.max_submissions_per_contributor,
        );
        hex(digest(&SHA256, text.as_bytes()).as_ref())
    }

    /// The largest batch it seals: the decodable size and the party's limit.
    pub fn batch_limit(&self, settings: &SecretShareConfig) -> u64 {
        match max_decodable_batch_size(self.min_value, self.max_value) {
            0 => u64::from(settings.max_batch_size),
            d => d.min(u64::from(settings.max_batch_size)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SecretShareConfig {
        SecretShareConfig { party: None, default_min_batch_size: 5, max_batch_size: 100_000, legacy_vector_length: 10 }
    }

    fn raw() -> RawEndpoint {
        RawEndpoint {
            name: "eta".into(),
            vector_length: 10,
            encoding: Some(Encoding::Integer),
            field_supported: true,
            min_value: 0,
            max_value: 1000,
            ..Default::default()
        }
    }

    #[test]
    fn names_follow_the_pattern() {
        for ok in ["a", "get_eta_data", "post_eta_data", "A-1_b", &format!("a{}", "b".repeat(63))] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1a", "_a", "a/b", "a b", "é", &format!("a{}", "b".repeat(64))] {
            assert_eq!(check_name(bad).unwrap_err().field, "name", "{bad}");
        }
    }

    #[test]
    fn defaults_apply_and_every_bad_field_is_named() {
        let (config, _) = raw().validate(&settings()).unwrap();
        assert_eq!((config.min_batch_size, config.max_submissions_per_contributor), (5, 1));
        let field = |r: RawEndpoint| r.validate(&settings()).unwrap_err().field;
        assert_eq!(field(RawEndpoint { min_batch_size: Some(1), ..raw() }), "min_batch_size");
        assert_eq!(field(RawEndpoint { vector_length: 0, ..raw() }), "vector_length");
        assert_eq!(field(RawEndpoint { vector_length: 4097, ..raw() }), "vector_length");
        assert_eq!(field(RawEndpoint { min_value: 5, max_value: 4, ..raw() }), "min_value");
        let fixed = RawEndpoint { encoding: Some(Encoding::FixedPoint), decimal_scale: 13, ..raw() };
        assert_eq!(field(fixed), "decimal_scale");
        assert_eq!(field(RawEndpoint { decimal_scale: 2, ..raw() }), "decimal_scale");
        assert_eq!(field(RawEndpoint { encoding: None, ..raw() }), "encoding");
        assert_eq!(field(RawEndpoint { field_supported: false, ..raw() }), "field");
        assert_eq!(field(RawEndpoint { max_value: (HALF + 1) as i64, ..raw() }), "max_value");
        assert_eq!(field(RawEndpoint { description: "x".repeat(2001), ..raw() }), "description");
        let unlimited = RawEndpoint { max_submissions_per_contributor: Some(0), ..raw() };
        assert_eq!(unlimited.validate(&settings()).unwrap().0.max_submissions_per_contributor, 0);
    }

    #[test]
    fn the_decodable_size_bounds_the_minimum_batch() {
        assert_eq!(max_decodable_batch_size(0, 0), 0);
        assert_eq!(max_decodable_batch_size(-10, 5), HALF / 10);
        let wide = RawEndpoint { min_value: 0, max_value: (HALF / 3) as i64, min_batch_size: Some(4), ..raw() };
        let err = wide.validate(&settings()).unwrap_err();
        assert_eq!(err.field, "min_batch_size");
        assert!(err.message.contains("from 2 to 3"), "{}", err.message);
    }

    #[test]
    fn the_digest_covers_the_party_count_and_the_spec_text() {
        let (config, _) = raw().validate(&settings()).unwrap();
        let text = "steward-secretshare-endpoint/v1\nname=eta\nparty_count=2\nfield=field64\n\
                    modulus=18446744069414584321\nvector_length=10\nencoding=integer\ndecimal_scale=0\n\
                    min_value=0\nmax_value=1000\nmin_batch_size=5\nmax_submissions_per_contributor=1\n";
        assert_eq!(config.digest(2), hex(digest(&SHA256, text.as_bytes()).as_ref()));
        assert_ne!(config.digest(2), config.digest(3));
    }
}
