//! What the participant pages say about a donation, in plain words (spec
//! §3.3): the requested types by their catalogue names, the window in
//! words, the steps with the current one, the primary action by stage, each
//! type's progress, and the participant-facing error messages (§5.9).

use chrono::NaiveDate;
use serde::Serialize;

use crate::donation::catalogue::Source;
use crate::donation::model::{Donation, Stage, TypeState, TypeStatus, error_remedies};

use super::templates::group_digits;

/// A donation as the templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct DonationView {
    pub id: i32,
    pub provider: &'static str,
    pub description: String,
    pub description_lines: Vec<String>,
    pub types: Vec<TypeView>,
    pub window_text: String,
    /// Display names of the declined types.
    pub declined: Vec<&'static str>,
    /// Whether the per-type progress is shown (signed in, or finished).
    pub show_progress: bool,
    /// Still being prepared or collected.
    pub processing: bool,
    /// A type needs Google's broad "Search activity" scope.
    pub search_scope: bool,
}

/// One requested type.
#[derive(Debug, Clone, Serialize)]
pub struct TypeView {
    pub name: String,
    pub display_name: &'static str,
    pub description: &'static str,
    pub state: &'static str,
    pub state_text: String,
    pub rows: i64,
}

impl DonationView {
    pub fn new(donation: &Donation, types: &[TypeStatus]) -> DonationView {
        let provider = donation.source.provider_name();
        let types: Vec<TypeView> = donation
            .requested_data_types
            .iter()
            .map(|name| {
                let data_type = donation.source.data_type(name);
                let status = types.iter().find(|t| &t.data_type == name);
                let state = status.map_or(TypeState::Requested, |s| s.state);
                let rows = status.map_or(0, |s| s.rows);
                TypeView {
                    name: name.clone(),
                    display_name: data_type.map_or("Other data", |t| t.display_name),
                    description: data_type.map_or("", |t| t.description),
                    state: state.as_str(),
                    state_text: type_state_text(donation.source, state, rows),
                    rows,
                }
            })
            .collect();
        let declined =
            types.iter().filter(|t| t.state == TypeState::Declined.as_str()).map(|t| t.display_name).collect();
        let stage = donation.stage;
        let show_progress = !matches!(stage, Stage::Created | Stage::LinkOpened | Stage::TermsAccepted);
        let processing = matches!(
            stage,
            Stage::Authorized
                | Stage::ExportRequested
                | Stage::WaitingForProvider
                | Stage::Downloading
                | Stage::Parsing
        );
        let search_scope = donation.source == Source::Google
            && donation.requested_data_types.iter().any(|name| {
                donation.source.data_type(name).is_some_and(|t| t.resources.contains(&"myactivity.search"))
            });
        DonationView {
            id: donation.id,
            provider,
            description: donation.description.clone(),
            description_lines: donation
                .description
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            types,
            window_text: window_text(donation.data_start_date, donation.data_end_date),
            declined,
            show_progress,
            processing,
            search_scope,
        }
    }

    /// The description's first line, shortened for lists.
    pub fn description_first(&self) -> Option<String> {
        let first = self.description_lines.first()?;
        Some(if first.chars().count() > 80 {
            format!("{}…", first.chars().take(79).collect::<String>())
        } else {
            first.clone()
        })
    }
}

/// "YouTube history — waiting for Google / downloading / checking / ready (1,234 items kept)".
pub fn type_state_text(source: Source, state: TypeState, rows: i64) -> String {
    let provider = source.provider_name();
    match state {
        TypeState::Requested | TypeState::Exporting => format!("waiting for {provider}"),
        TypeState::Downloading => "downloading".to_owned(),
        TypeState::Parsing => "checking".to_owned(),
        TypeState::Available => {
            let items = if rows == 1 { "item" } else { "items" };
            format!("ready ({} {items} kept)", group_digits(rows))
        }
        TypeState::Declined => "you chose not to share this".to_owned(),
        TypeState::Failed => "could not be collected".to_owned(),
    }
}

/// "from 1 January 2023 to 31 December 2023"; "all available dates" without a window.
pub fn window_text(start: Option<NaiveDate>, end: Option<NaiveDate>) -> String {
    let day = |d: NaiveDate| d.format("%-d %B %Y").to_string();
    match (start, end) {
        (Some(s), Some(e)) => format!("from {} to {}", day(s), day(e)),
        (Some(s), None) => format!("from {} on", day(s)),
        (None, Some(e)) => format!("up to {}", day(e)),
        (None, None) => "all available dates".to_owned(),
    }
}

/// One step of the step list.
#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    pub text: String,
    /// `done`, `current` or `upcoming`.
    pub state: &'static str,
}

/// The five steps with the current one marked, and the current step's text.
pub fn steps(source: Source, stage: Stage) -> (Vec<StepView>, String) {
    let p = source.provider_name();
    let texts = [
        "Read and accept the terms".to_owned(),
        format!("Sign in at {p} and allow access"),
        format!("{p} prepares your data (this can take from minutes to several days; you can close this page)"),
        "We keep only what the study needs".to_owned(),
        "Done".to_owned(),
    ];
    let current = match stage {
        Stage::Created | Stage::LinkOpened => 0,
        Stage::TermsAccepted | Stage::Failed => 1,
        Stage::Authorized | Stage::ExportRequested | Stage::WaitingForProvider => 2,
        Stage::Downloading | Stage::Parsing => 3,
        Stage::Done => 4,
    };
    let current = if stage == Stage::Failed { 2 } else { current };
    let steps = texts
        .iter()
        .enumerate()
        .map(|(i, text)| StepView {
            // The list is an <ol>: it numbers the steps itself.
            text: text.clone(),
            state: if i < current {
                "done"
            } else if i == current {
                "current"
            } else {
                "upcoming"
            },
        })
        .collect();
    let current_text = if stage == Stage::Failed { "Something went wrong".to_owned() } else { texts[current].clone() };
    (steps, current_text)
}

/// The one primary action of the status page.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Action {
    /// `terms`, `continue`, `progress`, `data` or `none`.
    pub kind: &'static str,
    pub label: String,
}

/// The primary action by stage (spec §3.3). `terms_current`: the accepted
/// terms are the ones shown now.
pub fn action(donation: &Donation, terms_current: bool) -> Action {
    let p = donation.source.provider_name();
    let (kind, label) = match donation.stage {
        Stage::Created | Stage::LinkOpened => ("terms", "Review the terms".to_owned()),
        Stage::TermsAccepted if !terms_current => ("terms", "Review the terms".to_owned()),
        Stage::TermsAccepted => ("continue", format!("Continue to {p}")),
        Stage::Authorized
        | Stage::ExportRequested
        | Stage::WaitingForProvider
        | Stage::Downloading
        | Stage::Parsing => ("progress", String::new()),
        Stage::Done => ("data", "See my data".to_owned()),
        Stage::Failed if can_fix(donation) => ("continue", "Sign in again".to_owned()),
        Stage::Failed => ("none", String::new()),
    };
    Action { kind, label }
}

/// Whether the participant can fix the donation's error by signing in again.
pub fn can_fix(donation: &Donation) -> bool {
    donation.error_code.as_deref().is_some_and(|code| error_remedies(code).0)
}

/// The participant's message when TikTok refused the export because the
/// account is outside the EEA and the UK (spec §4.4.3, §5.9).
pub const REGION_TEXT: &str = "TikTok offers this only for accounts in the EEA and the UK.";

/// The participant-facing message for an error code (spec §5.9).
pub fn failure_text(source: Source, code: &str) -> String {
    let p = source.provider_name();
    match code {
        "provider_access_lost" => {
            format!("Access to your {p} account ended before we could collect your data. Please sign in again.")
        }
        "provider_auth_failed" => {
            format!("Something went wrong on our side while connecting to {p}. The research team has been told.")
        }
        "export_failed" => format!("{p} could not prepare your data."),
        "export_expired" => "Your prepared data expired before we could collect it. Please sign in again.".to_owned(),
        "export_timeout" => {
            format!("{p} did not finish preparing your data in time. The research team will look into it.")
        }
        "provider_unavailable" => format!("We could not reach {p} for a long time. The research team can try again."),
        "archive_invalid" => "The data we received could not be read. The research team has been told.".to_owned(),
        "archive_too_large" => {
            "Your data was larger than this study can accept. The research team has been told.".to_owned()
        }
        _ => "Something went wrong on our side.".to_owned(),
    }
}

/// The status in words, for the participant's list of donations.
pub fn status_text(donation: &Donation) -> &'static str {
    match donation.stage {
        Stage::Created | Stage::LinkOpened => "not started",
        Stage::TermsAccepted => "waiting for you to sign in",
        Stage::Authorized | Stage::ExportRequested | Stage::WaitingForProvider => "being prepared",
        Stage::Downloading | Stage::Parsing => "being collected",
        Stage::Done => "done",
        Stage::Failed => "stopped with a problem",
    }
}

/// Whether the browser looks like an in-app browser, where Google refuses
/// OAuth (`disallowed_useragent`); the page then explains how to open it in
/// a real browser, without blocking anything.
pub fn in_app_browser(user_agent: &str) -> bool {
    const MARKERS: [&str; 9] = [
        "Instagram",
        "FBAN",
        "FBAV",
        "FB_IAB",
        "Messenger",
        "musical_ly",
        "BytedanceWebview",
        "LinkedInApp",
        "MicroMessenger",
    ];
    MARKERS.iter().any(|m| user_agent.contains(m))
        || user_agent.contains(" Line/")
        || user_agent.contains("; wv)")
        || user_agent.contains("TikTok")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_said_in_words() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day);
        assert_eq!(window_text(d(2023, 1, 1), d(2023, 12, 31)), "from 1 January 2023 to 31 December 2023");
        assert_eq!(window_text(None, None), "all available dates");
        assert_eq!(window_text(d(2024, 2, 29), None), "from 29 February 2024 on");
    }

    #[test]
    fn progress_is_said_in_words_with_grouped_numbers() {
        assert_eq!(type_state_text(Source::Google, TypeState::Exporting, 0), "waiting for Google");
        assert_eq!(type_state_text(Source::Google, TypeState::Parsing, 0), "checking");
        assert_eq!(type_state_text(Source::Google, TypeState::Available, 1234), "ready (1,234 items kept)");
    }

    #[test]
    fn exactly_one_step_is_current_and_it_is_said_in_text() {
        for stage in Stage::ALL {
            let (steps, current) = steps(Source::Google, stage);
            assert_eq!(steps.iter().filter(|s| s.state == "current").count(), 1, "{stage:?}");
            assert!(!current.is_empty());
        }
        let (steps, current) = steps(Source::Google, Stage::TermsAccepted);
        assert_eq!(current, "Sign in at Google and allow access");
        assert_eq!(steps[0].state, "done");
    }

    #[test]
    fn in_app_browsers_are_recognised() {
        assert!(in_app_browser("Mozilla/5.0 (iPhone) Instagram 300.0"));
        assert!(in_app_browser("Mozilla/5.0 (Linux; Android 14; Pixel 8; wv) AppleWebKit/537.36"));
        assert!(!in_app_browser("Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"));
    }
}
