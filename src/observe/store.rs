//! The aggregate queries behind the operations gauges of `/metrics`: job queue
//! depth and failures, donations by status, upload bytes. One round trip of
//! `GROUP BY`s over bounded label sets (job kinds come from the code, statuses
//! from CHECK constraints).

use diesel::QueryableByName;
use diesel::sql_types::{Int8, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// One aggregate: which gauge, its label values, and the value.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct GaugeRow {
    /// `jobs`, `jobs_retrying`, `donations`, `upload_bytes` or `upload_files`.
    #[diesel(sql_type = Text)]
    pub gauge: String,
    /// The job kind, or the donation or upload status.
    #[diesel(sql_type = Text)]
    pub first: String,
    /// The job state (`due`, `scheduled`, `running`, `failed`); empty for the others.
    #[diesel(sql_type = Text)]
    pub second: String,
    #[diesel(sql_type = Int8)]
    pub value: i64,
}

/// Every operations aggregate. A queued job is `due` once its `run_at` has
/// passed and `scheduled` before; `jobs_retrying` counts queued jobs whose last
/// attempt failed; upload bytes are the bytes received (synced to staging).
pub async fn operations(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Vec<GaugeRow>> {
    diesel::sql_query(
        "SELECT 'jobs' AS gauge, kind AS first, \
                CASE WHEN state <> 'queued' THEN state WHEN run_at <= now() THEN 'due' ELSE 'scheduled' END AS second, \
                count(*)::int8 AS value \
           FROM jobs GROUP BY 2, 3 \
         UNION ALL \
         SELECT 'jobs_retrying', kind, '', count(*)::int8 \
           FROM jobs WHERE state = 'queued' AND last_error IS NOT NULL GROUP BY kind \
         UNION ALL \
         SELECT 'donations', status, '', count(*)::int8 FROM donations GROUP BY status \
         UNION ALL \
         SELECT 'upload_bytes', status, '', coalesce(sum(committed_offset), 0)::int8 \
           FROM upload_files GROUP BY status \
         UNION ALL \
         SELECT 'upload_files', status, '', count(*)::int8 FROM upload_files GROUP BY status",
    )
    .load(conn)
    .await
}
