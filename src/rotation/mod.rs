//! Key rotation: which keyring key seals what (`steward keys usage`), and
//! re-sealing everything with the current key (`steward keys reseal`) so an
//! old key can leave `STEWARD_ENCRYPTION_KEYS`.
//!
//! Only small values are sealed with the keyring itself: per-donation and
//! per-file data keys (which seal the donated rows, archives and uploaded
//! files), provider OAuth tokens, participant tokens kept for the status page,
//! PKCE verifiers and server secrets. Re-sealing those moves everything off the
//! old key without touching a row of donated data or a blob. [`PLACES`] lists
//! them; a new sealed column must be added there, or rotation leaves it behind.
//!
//! Re-sealing runs while servers serve: each value is replaced only if it is
//! still the one read, so a token a server refreshed meanwhile is kept. Every
//! process must already run with the new keyring, or the ones on the old ring
//! could not open what is re-sealed.

pub mod store;

use std::collections::BTreeMap;

use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use uuid::Uuid;

use crate::crypto::{Keyring, KeyringError};
use store::{SealedRow, Values};

/// Rows read and re-sealed per transaction.
pub const BATCH: i64 = 200;

/// A table column (or two) holding values sealed with the keyring.
pub struct Place {
    /// What an operator reads, e.g. "donation data keys".
    pub name: &'static str,
    table: &'static str,
    pk: &'static str,
    pk_type: &'static str,
    /// SQL for the associated data's main input (cast to text).
    context: &'static str,
    /// SQL for a second, binary input, if the associated data has one.
    extra: Option<&'static str>,
    /// One or two sealed columns.
    columns: &'static [&'static str],
    /// The column naming the key that sealed the row, kept in step.
    key_id_column: Option<&'static str>,
    /// The associated data of column `i` of a row; `None` when the row's
    /// inputs do not parse (then it cannot have been sealed by Steward).
    aad: fn(&SealedRow, usize) -> Option<Vec<u8>>,
}

impl Place {
    /// `(table, column)` of each sealed column.
    pub fn columns(&self) -> impl Iterator<Item = (&'static str, &'static str)> {
        let table = self.table;
        self.columns.iter().map(move |column| (table, *column))
    }
}

fn donation_id(row: &SealedRow) -> Option<i32> {
    row.context.parse().ok()
}

fn provider_token_aad(row: &SealedRow, column: usize) -> Option<Vec<u8>> {
    let kind = ["access", "refresh"][column];
    Some(crate::donation::processing::grant::token_aad(donation_id(row)?, kind))
}

/// Every place holding keyring-sealed values.
pub const PLACES: &[Place] = &[
    Place {
        name: "donation data keys",
        table: "donation_keys",
        pk: "donation_id",
        pk_type: "integer",
        context: "donation_id",
        extra: None,
        columns: &["wrapped_key"],
        key_id_column: Some("key_id"),
        aad: |row, _| Some(crate::donation::keys::wrap_aad(donation_id(row)?)),
    },
    Place {
        name: "provider tokens",
        table: "provider_grants",
        pk: "id",
        pk_type: "bigint",
        context: "donation_id",
        extra: None,
        columns: &["access_token_sealed", "refresh_token_sealed"],
        key_id_column: Some("key_id"),
        aad: provider_token_aad,
    },
    Place {
        name: "provider tokens to release",
        table: "provider_releases",
        pk: "id",
        pk_type: "bigint",
        context: "donation_id",
        extra: None,
        columns: &["access_token_sealed", "refresh_token_sealed"],
        key_id_column: Some("key_id"),
        aad: provider_token_aad,
    },
    Place {
        name: "participant status tokens",
        table: "visits",
        pk: "id",
        pk_type: "bigint",
        context: "id",
        extra: None,
        columns: &["participant_token_sealed"],
        key_id_column: None,
        aad: |row, _| Some(crate::donation::participant::visit::token_aad(row.context.parse().ok()?)),
    },
    Place {
        name: "sign-in verifiers (PKCE)",
        table: "oauth_attempts",
        pk: "id",
        pk_type: "bigint",
        context: "donation_id",
        extra: Some("state_hash"),
        columns: &["code_verifier_sealed"],
        key_id_column: None,
        aad: |row, _| Some(crate::donation::participant::oauth::verifier_aad(donation_id(row)?, row.extra.as_deref()?)),
    },
    Place {
        name: "server secrets",
        table: "sealed_secrets",
        pk: "name",
        pk_type: "text",
        context: "name",
        extra: None,
        columns: &["sealed"],
        key_id_column: None,
        aad: |row, _| Some(crate::secretshare::store::sealed_secret_aad(&row.context)),
    },
    Place {
        name: "uploaded file data keys",
        table: "upload_files",
        pk: "id",
        pk_type: "uuid",
        context: "id",
        extra: None,
        columns: &["wrapped_key"],
        key_id_column: Some("key_id"),
        aad: |row, _| Some(crate::upload::ops::dek_aad(&Uuid::parse_str(&row.context).ok()?)),
    },
];

/// How many values each key seals, per place; `None` is a value whose
/// header names no key.
#[derive(Debug, Default)]
pub struct Usage {
    /// Per place (in [`PLACES`] order), the count per key id.
    pub places: Vec<(&'static str, BTreeMap<Option<String>, i64>)>,
    /// Live long-lived API tokens per key they are derived from.
    pub long_lived_tokens: BTreeMap<Option<String>, i64>,
}

impl Usage {
    /// Sealed values per key id over all places.
    pub fn totals(&self) -> BTreeMap<Option<String>, i64> {
        let mut totals = BTreeMap::new();
        for (_, counts) in &self.places {
            for (key, count) in counts {
                *totals.entry(key.clone()).or_insert(0) += count;
            }
        }
        totals
    }
}

/// Counts the sealed values of every place by key.
pub async fn usage(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Usage> {
    let mut usage = Usage::default();
    for place in PLACES {
        usage.places.push((place.name, store::count_by_key(conn, place).await?.into_iter().collect()));
    }
    usage.long_lived_tokens = store::long_lived_tokens_by_key(conn).await?.into_iter().collect();
    Ok(usage)
}

/// What re-sealing did in one place.
#[derive(Debug)]
pub struct Resealed {
    /// The place's name.
    pub place: &'static str,
    /// Values now sealed with the current key.
    pub resealed: u64,
    /// Rows a server changed between reading and writing; left as the server wrote them.
    pub changed_meanwhile: u64,
    /// Rows that do not open with this keyring (primary key and why), left unchanged.
    pub unreadable: Vec<(String, KeyringError)>,
}

/// Re-seals every value not sealed with `keyring`'s current key, place by
/// place, [`BATCH`] rows per transaction.
pub async fn reseal(conn: &mut AsyncPgConnection, keyring: &Keyring) -> diesel::QueryResult<Vec<Resealed>> {
    let mut report = Vec::with_capacity(PLACES.len());
    for place in PLACES {
        let mut done = Resealed { place: place.name, resealed: 0, changed_meanwhile: 0, unreadable: Vec::new() };
        let mut after: Option<String> = None;
        loop {
            let rows = store::stale_rows(conn, place, keyring.current_key_id(), after.as_deref(), BATCH).await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.pk.clone());
            conn.transaction(async |conn| {
                for row in &rows {
                    match reseal_row(keyring, place, row) {
                        Ok((new, count)) => {
                            if store::replace_if_unchanged(conn, place, row, new, keyring.current_key_id()).await? {
                                done.resealed += count;
                            } else {
                                done.changed_meanwhile += 1;
                            }
                        }
                        Err(error) => done.unreadable.push((row.pk.clone(), error)),
                    }
                }
                Ok::<_, diesel::result::Error>(())
            })
            .await?;
        }
        report.push(done);
    }
    Ok(report)
}

/// The row's values under the current key (unchanged where they already
/// are), and how many were re-sealed; any value that does not open fails the
/// whole row, so its key id column never disagrees with its values.
fn reseal_row(keyring: &Keyring, place: &Place, row: &SealedRow) -> Result<(Values, u64), KeyringError> {
    let mut new: Values = [None, None];
    let mut count = 0;
    for (i, value) in row.values().into_iter().enumerate().take(place.columns.len()) {
        let Some(value) = value else { continue };
        let aad = (place.aad)(row, i).ok_or(KeyringError::AuthenticationFailed)?;
        new[i] = Some(match keyring.reseal(value, &aad)? {
            Some(resealed) => {
                count += 1;
                resealed
            }
            None => value.to_vec(),
        });
    }
    Ok((new, count))
}
