//! The data-type catalogue (spec §4.2.3, §4.5.2): which sources exist, which
//! data types each offers, in catalogue order, and what a provider must be
//! asked for to export them. Everything that validates a request, builds a
//! consent scope, selects archive members or orders `data_types` reads it here.

use std::fmt;

/// A portability source, spelled as the REST surface spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Google,
    TikTok,
}

impl Source {
    pub const ALL: [Source; 2] = [Source::Google, Source::TikTok];

    /// The compat spelling (`source_type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Google => "google_portability",
            Source::TikTok => "tiktok_portability",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|source| source.as_str() == s)
    }

    /// The provider's name as participants know it.
    pub fn provider_name(self) -> &'static str {
        match self {
            Source::Google => "Google",
            Source::TikTok => "TikTok",
        }
    }

    /// This source's data types, in catalogue order.
    pub fn data_types(self) -> impl Iterator<Item = &'static DataType> {
        DATA_TYPES.iter().filter(move |t| t.source == self)
    }

    /// The data type `name` of this source, if it has one.
    pub fn data_type(self, name: &str) -> Option<&'static DataType> {
        self.data_types().find(|t| t.name == name)
    }

    /// Names of this source's data types, in catalogue order.
    pub fn data_type_names(self) -> Vec<&'static str> {
        self.data_types().map(|t| t.name).collect()
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One data type a donation can ask for.
#[derive(Debug, PartialEq, Eq)]
pub struct DataType {
    pub source: Source,
    /// The compat name (`requested_data_types`, `data_type`).
    pub name: &'static str,
    /// What the consent page calls it.
    pub display_name: &'static str,
    /// Plain-language description for participants.
    pub description: &'static str,
    /// Google: the resource groups to export (each is a scope suffix after
    /// `https://www.googleapis.com/auth/dataportability.`). TikTok: the
    /// portability category.
    pub resources: &'static [&'static str],
    /// `platform` of its rows.
    pub platform: &'static str,
}

impl DataType {
    /// Position in catalogue order (for sorting lists of types).
    pub fn position(&self) -> usize {
        DATA_TYPES.iter().position(|t| std::ptr::eq(t, self)).unwrap_or(usize::MAX)
    }
}

/// Google scope URL for a resource group.
pub fn google_scope(resource: &str) -> String {
    format!("{GOOGLE_SCOPE_PREFIX}{resource}")
}

/// Every Google Data Portability scope is this prefix plus a resource group.
pub const GOOGLE_SCOPE_PREFIX: &str = "https://www.googleapis.com/auth/dataportability.";

/// The resource groups (Google) or categories (TikTok) a set of data types
/// needs: the de-duplicated union, in catalogue order of first use.
pub fn resources_for<'a>(types: impl IntoIterator<Item = &'a DataType>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for t in types {
        for r in t.resources {
            if !out.contains(r) {
                out.push(r);
            }
        }
    }
    out
}

/// The catalogue. Google's two inferred mappings (`discover` and `google_lens`
/// also need `myactivity.search`, spec §4.2.3) live only here.
pub static DATA_TYPES: &[DataType] = &[
    DataType {
        source: Source::Google,
        name: "youtube_history",
        display_name: "YouTube history",
        description: "Videos watched, likes, searches and subscriptions on YouTube",
        resources: &["myactivity.youtube"],
        platform: "YouTube",
    },
    DataType {
        source: Source::Google,
        name: "discover",
        display_name: "Google Discover",
        description: "Your feed activity, liked content, followed topics and \"not interested\" choices",
        resources: &["myactivity.search", "discover.likes", "discover.follows", "discover.not_interested"],
        platform: "Discover",
    },
    DataType {
        source: Source::Google,
        name: "google_lens",
        display_name: "Google Lens searches",
        description: "Searches you made with Google Lens",
        resources: &["myactivity.search"],
        platform: "Google Lens",
    },
    DataType {
        source: Source::Google,
        name: "google_play_games",
        display_name: "Google Play Games activity",
        description: "Games you played and achievements on Google Play Games",
        resources: &["myactivity.play"],
        platform: "Google Play Games",
    },
    DataType {
        source: Source::Google,
        name: "google_play_store",
        display_name: "Google Play Store activity",
        description: "Apps you used and installed from Google Play Store",
        resources: &["myactivity.play"],
        platform: "Google Play Store",
    },
    DataType {
        source: Source::Google,
        name: "image_search",
        display_name: "Google Image Search history",
        description: "Your searches on Google Images and the images you viewed",
        resources: &["myactivity.search"],
        platform: "Image Search",
    },
    DataType {
        source: Source::Google,
        name: "search",
        display_name: "Google Search history",
        description: "Your searches on Google and the pages you visited from them",
        resources: &["myactivity.search"],
        platform: "Search",
    },
    DataType {
        source: Source::Google,
        name: "video_search",
        display_name: "Google Video Search history",
        description: "Your video searches on Google and the videos you opened from them",
        resources: &["myactivity.search"],
        platform: "Video Search",
    },
    DataType {
        source: Source::TikTok,
        name: "watch_history",
        display_name: "Videos you watched",
        description: "The TikTok videos you watched and when",
        resources: &["activity"],
        platform: "TikTok",
    },
    DataType {
        source: Source::TikTok,
        name: "search_history",
        display_name: "Your searches",
        description: "What you searched for on TikTok and when",
        resources: &["activity"],
        platform: "TikTok",
    },
    DataType {
        source: Source::TikTok,
        name: "likes",
        display_name: "Videos you liked",
        description: "The TikTok videos you liked and when",
        resources: &["activity"],
        platform: "TikTok",
    },
    DataType {
        source: Source::TikTok,
        name: "favorites",
        display_name: "Your favorites",
        description: "Videos, sounds, effects, hashtags and collections you saved as favorites",
        resources: &["activity"],
        platform: "TikTok",
    },
    DataType {
        source: Source::TikTok,
        name: "comments",
        display_name: "Your comments",
        description: "The comments you wrote on TikTok and when",
        resources: &["activity"],
        platform: "TikTok",
    },
    DataType {
        source: Source::TikTok,
        name: "shares",
        display_name: "What you shared",
        description: "The videos you shared, how, and when",
        resources: &["activity"],
        platform: "TikTok",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_offers_eight_types_in_catalogue_order() {
        assert_eq!(
            Source::Google.data_type_names(),
            [
                "youtube_history",
                "discover",
                "google_lens",
                "google_play_games",
                "google_play_store",
                "image_search",
                "search",
                "video_search"
            ]
        );
        assert_eq!(Source::TikTok.data_type_names().len(), 6);
        assert_eq!(Source::parse("google_portability"), Some(Source::Google));
        assert_eq!(Source::parse("banana"), None);
    }

    #[test]
    fn all_google_types_need_six_scopes_and_play_is_shared() {
        assert_eq!(
            resources_for(Source::Google.data_types()),
            [
                "myactivity.youtube",
                "myactivity.search",
                "discover.likes",
                "discover.follows",
                "discover.not_interested",
                "myactivity.play"
            ]
        );
        let play = ["google_play_games", "google_play_store"].map(|n| Source::Google.data_type(n).unwrap());
        assert_eq!(resources_for(play), ["myactivity.play"]);
        // Lens never asks for Chrome history (upstream's mistake).
        assert!(DATA_TYPES.iter().all(|t| !t.resources.contains(&"chrome.history")));
        assert_eq!(google_scope("myactivity.play"), "https://www.googleapis.com/auth/dataportability.myactivity.play");
    }

    #[test]
    fn positions_follow_the_table() {
        let search = Source::Google.data_type("search").unwrap();
        let youtube = Source::Google.data_type("youtube_history").unwrap();
        assert!(youtube.position() < search.position());
    }
}
