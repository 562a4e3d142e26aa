//! The participant pages' templates (spec §3, §3.7): minijinja, so an
//! institution can change any page or legal text without rebuilding. The
//! shipped templates are compiled in; a file of the same name under
//! `STEWARD_TEMPLATE_DIR` replaces one, and `NAME.<lang>.html` adds a
//! language variant (`privacy_notice.fi.html`).
//!
//! The three legal templates are examples every institution must edit; they
//! carry [`EXAMPLE_MARKER`], and production refuses to start while an active
//! one still does ([`example_template_in_use`]).

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::Environment;
use serde::Serialize;

/// The marker the shipped legal templates carry until an institution edits them.
pub const EXAMPLE_MARKER: &str = "{# STEWARD-EXAMPLE-TEMPLATE: edit before production #}";

/// The legal templates (spec §3.7).
pub const LEGAL: [&str; 3] = ["terms_of_service.html", "privacy_notice.html", "consent.html"];

/// Every shipped template: (name, source).
pub const SHIPPED: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../../templates/donation/layout.html")),
    ("macros.html", include_str!("../../../templates/donation/macros.html")),
    ("status.html", include_str!("../../../templates/donation/status.html")),
    ("terms_page.html", include_str!("../../../templates/donation/terms_page.html")),
    ("data.html", include_str!("../../../templates/donation/data.html")),
    ("revoke.html", include_str!("../../../templates/donation/revoke.html")),
    ("participant_home.html", include_str!("../../../templates/donation/participant_home.html")),
    ("error.html", include_str!("../../../templates/donation/error.html")),
    ("legal_page.html", include_str!("../../../templates/donation/legal_page.html")),
    ("terms_of_service.html", include_str!("../../../templates/donation/terms_of_service.html")),
    ("privacy_notice.html", include_str!("../../../templates/donation/privacy_notice.html")),
    ("consent.html", include_str!("../../../templates/donation/consent.html")),
];

/// The participant pages' stylesheet (phone first; the data table becomes cards).
pub const STYLESHEET: &str = include_str!("../../../templates/donation/donate.css");

/// The loaded templates.
pub struct Templates {
    env: Environment<'static>,
    /// `en` and every language a `NAME.<lang>.html` variant exists for.
    languages: Vec<String>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

/// A template that could not be loaded, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("template {file}: {reason}")]
pub struct TemplateError {
    pub file: String,
    pub reason: String,
}

impl Templates {
    /// The shipped templates, each replaced by a file of the same name in
    /// `dir` when there is one; `dir` may add language variants too.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut sources: BTreeMap<String, String> =
            SHIPPED.iter().map(|(name, source)| ((*name).to_owned(), (*source).to_owned())).collect();
        if let Some(dir) = dir {
            for (name, source) in overrides(dir)? {
                sources.insert(name, source);
            }
        }
        let mut languages = vec!["en".to_owned()];
        for name in sources.keys() {
            if let Some(lang) = variant_language(name)
                && !languages.iter().any(|l| l == lang)
            {
                languages.push(lang.to_owned());
            }
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        env.add_filter("number", |n: i64| group_digits(n));
        env.add_filter("urlencode_text", |s: String| percent_encode(&s));
        for (name, source) in sources {
            env.add_template_owned(name.clone(), source)
                .map_err(|e| TemplateError { file: name.clone(), reason: e.to_string() })?;
        }
        Ok(Templates { env, languages })
    }

    /// `en` and the languages that have template variants, `en` first.
    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    /// Renders `name` (or its `lang` variant when there is one) with `ctx`.
    pub fn render(&self, name: &str, lang: &str, ctx: impl Serialize) -> Result<String, minijinja::Error> {
        let localized = name.strip_suffix(".html").map(|stem| format!("{stem}.{lang}.html"));
        let template = match localized.as_deref().and_then(|l| self.env.get_template(l).ok()) {
            Some(t) => t,
            None => self.env.get_template(name)?,
        };
        template.render(ctx)
    }
}

/// `*.html` files in `dir` named like a shipped template or a language
/// variant of one; other files are ignored.
fn overrides(dir: &Path) -> Result<Vec<(String, String)>, TemplateError> {
    let err =
        |file: &Path, e: std::io::Error| TemplateError { file: file.display().to_string(), reason: e.to_string() };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| err(dir, e))? {
        let entry = entry.map_err(|e| err(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_template_name(&name) {
            continue;
        }
        let source = std::fs::read_to_string(entry.path()).map_err(|e| err(&entry.path(), e))?;
        out.push((name, source));
    }
    Ok(out)
}

/// `fi` for `status.fi.html` (a variant of a shipped template), else `None`.
fn variant_language(name: &str) -> Option<&str> {
    SHIPPED.iter().find_map(|(shipped, _)| {
        let stem = shipped.trim_end_matches(".html");
        let lang = name.strip_prefix(stem)?.strip_prefix('.')?.strip_suffix(".html")?;
        (!lang.is_empty() && lang.len() <= 35 && lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            .then_some(lang)
    })
}

/// `status.html`, or `status.fi.html` / `status.pt-BR.html` for a shipped name.
fn is_template_name(name: &str) -> bool {
    SHIPPED.iter().any(|(shipped, _)| {
        let stem = shipped.trim_end_matches(".html");
        name == *shipped
            || name
                .strip_prefix(stem)
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|r| r.strip_suffix(".html"))
                .is_some_and(|lang| {
                    !lang.is_empty() && lang.len() <= 35 && lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
    })
}

/// The first active legal template (shipped, or from `dir` with its language
/// variants) that still carries [`EXAMPLE_MARKER`], as the file to edit.
/// Production refuses to start while there is one (spec §3.7).
pub fn example_template_in_use(dir: Option<&Path>) -> Result<Option<String>, TemplateError> {
    let found = match dir {
        None => None,
        Some(dir) => Some(overrides(dir)?),
    };
    for legal in LEGAL {
        let stem = legal.trim_end_matches(".html");
        let over = found.iter().flatten();
        match over.clone().find(|(name, _)| name == legal) {
            Some((_, source)) if source.contains(EXAMPLE_MARKER) => {
                return Ok(Some(dir.map_or(legal.to_owned(), |d| d.join(legal).display().to_string())));
            }
            Some(_) => {}
            None => {
                let where_ = match dir {
                    Some(d) => format!("templates/donation/{legal} (shipped; put an edited copy in {})", d.display()),
                    None => format!(
                        "templates/donation/{legal} (shipped; set STEWARD_TEMPLATE_DIR to a directory with an edited copy)"
                    ),
                };
                return Ok(Some(where_));
            }
        }
        for (name, source) in over {
            let variant = name.starts_with(&format!("{stem}.")) && name != legal;
            if variant && source.contains(EXAMPLE_MARKER) {
                return Ok(Some(dir.map_or(name.clone(), |d| d.join(name).display().to_string())));
            }
        }
    }
    Ok(None)
}

/// Every byte but RFC 3986's unreserved characters percent-encoded (for a
/// `data:` URL's text).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `1234567` → `1,234,567`.
pub fn group_digits(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_templates_load_and_legal_ones_carry_the_marker() {
        let templates = Templates::load(None).unwrap();
        for legal in LEGAL {
            let source = SHIPPED.iter().find(|(n, _)| *n == legal).unwrap().1;
            assert!(source.starts_with(EXAMPLE_MARKER), "{legal}");
        }
        let html =
            templates.render("error.html", "en", minijinja::context! { heading => "Nope", lang => "en" }).unwrap();
        assert!(html.contains("Nope"));
        assert!(example_template_in_use(None).unwrap().unwrap().contains("terms_of_service.html"));
    }

    #[test]
    fn a_template_directory_overrides_and_clears_the_refusal_once_edited() {
        let dir = std::env::temp_dir().join(format!("steward-templates-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for legal in LEGAL {
            std::fs::write(dir.join(legal), format!("{EXAMPLE_MARKER}\nexample")).unwrap();
        }
        let refused = example_template_in_use(Some(&dir)).unwrap().unwrap();
        assert!(refused.ends_with("terms_of_service.html"), "{refused}");
        for legal in LEGAL {
            std::fs::write(dir.join(legal), format!("Our own {legal}")).unwrap();
        }
        assert_eq!(example_template_in_use(Some(&dir)).unwrap(), None);
        // A language variant still carrying the marker is refused too.
        std::fs::write(dir.join("privacy_notice.fi.html"), format!("{EXAMPLE_MARKER} fi")).unwrap();
        assert!(example_template_in_use(Some(&dir)).unwrap().unwrap().ends_with("privacy_notice.fi.html"));
        std::fs::write(dir.join("privacy_notice.fi.html"), "Tietosuojaseloste").unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let templates = Templates::load(Some(&dir)).unwrap();
        let ctx = minijinja::context! {};
        assert_eq!(templates.render("privacy_notice.html", "fi", &ctx).unwrap(), "Tietosuojaseloste");
        assert_eq!(templates.render("privacy_notice.html", "en", &ctx).unwrap(), "Our own privacy_notice.html");
        assert_eq!(templates.languages(), ["en", "fi"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1234), "1,234");
        assert_eq!(group_digits(-1234567), "-1,234,567");
    }
}
