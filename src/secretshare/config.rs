//! Party configuration (spec secretshare.md §2.1, §2.3, §3.4): which party
//! this server is, and the limits and defaults its endpoints get.

use crate::config::{ConfigError, invalid, parse_count};

/// This server's place among the parties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// 0-based.
    pub index: u32,
    /// N ≥ 2.
    pub count: u32,
    /// Display name; may be empty.
    pub name: String,
    /// Every party's public base URL, in party order; empty when not configured.
    pub urls: Vec<String>,
}

/// SecretShareService settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretShareConfig {
    /// `None`: the service is off (every RPC answers PARTY_NOT_CONFIGURED).
    pub party: Option<Party>,
    /// `min_batch_size` of endpoints created without one.
    pub default_min_batch_size: u32,
    /// The largest batch this party seals.
    pub max_batch_size: u32,
    /// `vector_length` of endpoints made by the legacy create_endpoint route.
    pub legacy_vector_length: u32,
}

/// The longest vector an endpoint may have.
pub const MAX_VECTOR_LENGTH: u32 = 4096;

impl SecretShareConfig {
    /// Reads `STEWARD_SECRETSHARE_*`, and the legacy `SERVER_ID` and `NUM_CLIENTS_TO_SUM`.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let party = party(get)?;
        let max_batch_size = parse_count(get, "STEWARD_SECRETSHARE_MAX_BATCH_SIZE", 100_000, 2..=10_000_000)? as u32;
        let default_min_batch_size =
            match (get("STEWARD_SECRETSHARE_DEFAULT_MIN_BATCH_SIZE"), get("NUM_CLIENTS_TO_SUM")) {
                (Some(_), _) => parse_count(get, "STEWARD_SECRETSHARE_DEFAULT_MIN_BATCH_SIZE", 5, 2..=10_000_000)?,
                (None, Some(_)) => parse_count(get, "NUM_CLIENTS_TO_SUM", 5, 2..=10_000_000)?,
                (None, None) => 5,
            } as u32;
        let legacy_vector_length =
            parse_count(get, "STEWARD_SECRETSHARE_LEGACY_VECTOR_LENGTH", 10, 1..=MAX_VECTOR_LENGTH as usize)? as u32;
        Ok(Self { party, default_min_batch_size, max_batch_size, legacy_vector_length })
    }
}

fn party(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Party>, ConfigError> {
    const INDEX: &str = "STEWARD_SECRETSHARE_PARTY_INDEX";
    const COUNT: &str = "STEWARD_SECRETSHARE_PARTY_COUNT";
    const URLS: &str = "STEWARD_SECRETSHARE_PARTY_URLS";
    let name = get("STEWARD_SECRETSHARE_PARTY_NAME").unwrap_or_default();
    let number = |var: &'static str, value: String| {
        value.parse::<u32>().map_err(|_| invalid(var, format!("'{value}' is not a whole number")))
    };
    let (index, count) = match (get(INDEX), get(COUNT)) {
        (Some(index), Some(count)) => (number(INDEX, index)?, number(COUNT, count)?),
        (Some(_), None) => return Err(invalid(COUNT, format!("is needed with {INDEX}: the number of parties"))),
        (None, Some(_)) => return Err(invalid(INDEX, format!("is needed with {COUNT}: this party's 0-based index"))),
        // Privacy Guardian's two instances: R_SERVER and X_R_SERVER.
        (None, None) => match get("SERVER_ID").as_deref() {
            None => return Ok(None),
            Some("R_SERVER") => (0, 2),
            Some("X_R_SERVER") => (1, 2),
            Some(other) => {
                return Err(invalid(
                    "SERVER_ID",
                    format!("'{other}' is neither R_SERVER nor X_R_SERVER; set {INDEX} and {COUNT} instead"),
                ));
            }
        },
    };
    if count < 2 {
        return Err(invalid(COUNT, format!("{count} parties cannot share a secret: at least 2 are needed")));
    }
    if index >= count {
        return Err(invalid(INDEX, format!("{index} is not below the party count {count} (indices start at 0)")));
    }
    let urls: Vec<String> = get(URLS)
        .map(|v| v.split(',').map(|u| u.trim().trim_end_matches('/').to_owned()).filter(|u| !u.is_empty()).collect())
        .unwrap_or_default();
    if !urls.is_empty() && urls.len() != count as usize {
        return Err(invalid(
            URLS,
            format!("lists {} URLs for {count} parties: give every party's URL, in party order", urls.len()),
        ));
    }
    if let Some(bad) = urls.iter().find(|u| !(u.starts_with("https://") || u.starts_with("http://"))) {
        return Err(invalid(URLS, format!("'{bad}' is not an http(s) base URL")));
    }
    Ok(Some(Party { index, count, name, urls }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<SecretShareConfig, ConfigError> {
        SecretShareConfig::from_lookup(&|name: &str| {
            vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn parties_come_from_index_and_count_or_the_legacy_server_id() {
        assert_eq!(config(&[]).unwrap().party, None);
        let party = config(&[
            ("STEWARD_SECRETSHARE_PARTY_INDEX", "2"),
            ("STEWARD_SECRETSHARE_PARTY_COUNT", "3"),
            ("STEWARD_SECRETSHARE_PARTY_NAME", "Lab C"),
        ])
        .unwrap()
        .party
        .unwrap();
        assert_eq!(party, Party { index: 2, count: 3, name: "Lab C".into(), urls: vec![] });
        assert_eq!(config(&[("SERVER_ID", "X_R_SERVER")]).unwrap().party.unwrap().index, 1);
        assert_eq!(
            config(&[("SERVER_ID", "R_SERVER")]).unwrap().party.unwrap(),
            Party { index: 0, count: 2, name: String::new(), urls: vec![] }
        );
        let urls = "https://r.example/, https://xr.example";
        let listed = config(&[("SERVER_ID", "R_SERVER"), ("STEWARD_SECRETSHARE_PARTY_URLS", urls)]);
        assert_eq!(listed.unwrap().party.unwrap().urls, ["https://r.example", "https://xr.example"]);
    }

    #[test]
    fn a_party_configuration_that_cannot_work_stops_startup() {
        let err = |vars: &[(&str, &str)]| config(vars).unwrap_err();
        let e = err(&[("STEWARD_SECRETSHARE_PARTY_INDEX", "2"), ("STEWARD_SECRETSHARE_PARTY_COUNT", "2")]);
        assert_eq!(e.var, "STEWARD_SECRETSHARE_PARTY_INDEX");
        assert!(e.message.contains("not below the party count 2"), "{}", e.message);
        let e = err(&[("STEWARD_SECRETSHARE_PARTY_INDEX", "0"), ("STEWARD_SECRETSHARE_PARTY_COUNT", "1")]);
        assert!(e.message.contains("at least 2"), "{}", e.message);
        assert_eq!(err(&[("STEWARD_SECRETSHARE_PARTY_INDEX", "0")]).var, "STEWARD_SECRETSHARE_PARTY_COUNT");
        assert_eq!(err(&[("STEWARD_SECRETSHARE_PARTY_COUNT", "3")]).var, "STEWARD_SECRETSHARE_PARTY_INDEX");
        assert_eq!(err(&[("SERVER_ID", "Y_SERVER")]).var, "SERVER_ID");
        let short = err(&[("SERVER_ID", "R_SERVER"), ("STEWARD_SECRETSHARE_PARTY_URLS", "https://r.example")]);
        assert!(short.message.contains("1 URLs for 2 parties"), "{}", short.message);
        let bad = err(&[("SERVER_ID", "R_SERVER"), ("STEWARD_SECRETSHARE_PARTY_URLS", "r.example,xr.example")]);
        assert_eq!(bad.var, "STEWARD_SECRETSHARE_PARTY_URLS");
    }

    #[test]
    fn the_default_minimum_batch_honours_num_clients_to_sum() {
        assert_eq!(config(&[]).unwrap().default_min_batch_size, 5);
        assert_eq!(config(&[("NUM_CLIENTS_TO_SUM", "7")]).unwrap().default_min_batch_size, 7);
        let both = config(&[("NUM_CLIENTS_TO_SUM", "7"), ("STEWARD_SECRETSHARE_DEFAULT_MIN_BATCH_SIZE", "9")]);
        assert_eq!(both.unwrap().default_min_batch_size, 9);
        assert_eq!(config(&[("NUM_CLIENTS_TO_SUM", "1")]).unwrap_err().var, "NUM_CLIENTS_TO_SUM");
        assert_eq!(config(&[]).unwrap().legacy_vector_length, 10);
    }
}
