# A participant donating through the sandbox Google provider, as a browser
# does it (spec donation.md §1 steps 3-8, §3.2, §6.3): open the donation link,
# accept the terms, continue to Google, press Allow on the sandbox's consent
# screen with a test scenario, follow the redirect back to Steward's OAuth
# callback. Steward's own workers then process the sandbox archive;
# processed_donation() waits for that through get_donation(). Plain HTTP on the
# running server (the e2e stack runs the sandbox providers): no test-only
# routes, and no more knowledge of the pages than their forms.

html_unescape <- function(text) {
  for (entity in list(c("&lt;", "<"), c("&gt;", ">"), c("&quot;", "\""), c("&#39;", "'"), c("&#x27;", "'"),
    c("&amp;", "&"))) {
    text <- gsub(entity[[1]], entity[[2]], text, fixed = TRUE)
  }
  text
}

html_attr <- function(tag, name) {
  match <- regmatches(tag, regexec(sprintf("\\s%s=\"([^\"]*)\"", name), tag))[[1]]
  if (length(match) < 2L) NULL else html_unescape(match[[2]])
}

html_has_attr <- function(tag, name) grepl(sprintf("\\s%s(\\s|=|>|/)", name), tag)

# The URL and fields (a named character vector, in page order) of the page's
# form posting to a path ending in `action`, as a browser would submit it.
page_form <- function(html, page_url, action) {
  for (part in strsplit(html, "<form", fixed = TRUE)[[1]][-1]) {
    open_tag <- sub(">.*", ">", part)
    target <- html_attr(paste0(" ", open_tag), "action") %||% ""
    target <- url_join(page_url, target)
    if (!endsWith(sub("[?#].*", "", target), action)) next
    body <- sub("</form>.*", "", part)
    fields <- character()
    for (tag in regmatches(body, gregexpr("<(input|select|option)\\b[^>]*>", body))[[1]]) {
      if (startsWith(tag, "<select")) {
        select <- html_attr(tag, "name")
      } else if (startsWith(tag, "<option")) {
        if (html_has_attr(tag, "selected")) fields <- c(fields, stats::setNames(html_attr(tag, "value"), select))
      } else {
        name <- html_attr(tag, "name")
        type <- tolower(html_attr(tag, "type") %||% "text")
        if (is.null(name) || type %in% c("submit", "button", "image", "file", "reset")) next
        if (type %in% c("checkbox", "radio") && !html_has_attr(tag, "checked")) next
        fields <- c(fields, stats::setNames(html_attr(tag, "value") %||% "", name))
      }
    }
    return(list(url = target, fields = fields))
  }
  stop("no form posting to ", action, " on ", page_url, call. = FALSE)
}

url_join <- function(base, target) {
  if (grepl("^https?://", target)) return(target)
  origin <- sub("^(https?://[^/]+).*", "\\1", base)
  if (!nzchar(target)) return(base)
  if (startsWith(target, "/")) return(paste0(origin, target))
  paste0(sub("[^/]*$", "", sub("[?#].*", "", base)), target)
}

# One cookie jar (curl's engine on one handle); redirects returned, not followed.
participant_browser <- function() {
  handle <- curl::new_handle(followlocation = FALSE, cookiefile = "")
  request <- function(url, fields = NULL) {
    if (is.null(fields)) {
      curl::handle_setopt(handle, httpget = TRUE)
      curl::handle_setheaders(handle, accept = "text/html")
    } else {
      body <- paste(curl::curl_escape(names(fields)), curl::curl_escape(fields), sep = "=", collapse = "&")
      curl::handle_setopt(handle, post = TRUE, postfields = body)
      curl::handle_setheaders(handle, accept = "text/html", "content-type" = "application/x-www-form-urlencoded")
    }
    response <- curl::curl_fetch_memory(url, handle)
    headers <- curl::parse_headers_list(response$headers)
    location <- headers[["location"]]
    list(
      status = response$status_code,
      location = if (is.null(location)) "" else url_join(url, location),
      body = rawToChar(response$content)
    )
  }
  list(get = function(url) request(url), post = function(url, fields) request(url, fields))
}

# Walks the participant's sign-in for the donation behind `donation_url`;
# `scenario` sets the sandbox consent screen's test-scenario fields.
participant_donate <- function(donation_url, scenario = c(persona = "tiny")) {
  browser <- participant_browser()
  base <- sub("^(https?://[^/]+).*", "\\1", donation_url)
  expect_status <- function(answer, status, what) {
    if (!answer$status %in% status) {
      stop(what, ": HTTP ", answer$status, " ", answer$location, "\n", substr(answer$body, 1, 500), call. = FALSE)
    }
    answer
  }

  opened <- expect_status(browser$get(donation_url), 302L, "donation link")
  stopifnot(identical(opened$location, paste0(base, "/donate/")))
  terms <- expect_status(browser$get(paste0(base, "/donate/terms/")), 200L, "terms page")
  form <- page_form(terms$body, paste0(base, "/donate/terms/"), "/donate/terms/")
  expect_status(browser$post(form$url, form$fields), 303L, "accepting the terms")
  status <- expect_status(browser$get(paste0(base, "/donate/")), 200L, "status page")
  form <- page_form(status$body, paste0(base, "/donate/"), "/donate/authorize/")
  sign_in <- expect_status(browser$post(form$url, form$fields), 302L, "continue to Google")
  stopifnot(grepl("/sandbox/google/", sign_in$location, fixed = TRUE))
  consent <- expect_status(browser$get(sign_in$location), 200L, "sandbox consent screen")
  form <- page_form(consent$body, sign_in$location, "/auth/decision")
  fields <- c(form$fields[!names(form$fields) %in% names(scenario)], scenario, decision = "allow")
  decided <- expect_status(browser$post(form$url, fields), 302L, "allow at the sandbox")
  stopifnot(grepl("/oauth/google/callback/?", decided$location, fixed = TRUE))
  back <- expect_status(browser$get(decided$location), c(302L, 303L), "OAuth callback")
  stopifnot(identical(back$location, paste0(base, "/donate/")))
  invisible()
}

# The donation once Steward's workers have processed it.
processed_donation <- function(client, id, within = 120) {
  processed <- RProtoBuf::P("steward.donation.v1.DonationStatus")$DONATION_STATUS_PROCESSED
  failed <- RProtoBuf::P("steward.donation.v1.DonationStatus")$DONATION_STATUS_ERROR
  deadline <- Sys.time() + within
  repeat {
    donation <- get_donation(client, id)
    if (donation$status == processed) return(donation)
    if (donation$status == failed) stop("processing failed: ", donation$error$code, ": ", donation$error$message)
    if (Sys.time() > deadline) stop("donation ", id, " not processed within ", within, " s", call. = FALSE)
    Sys.sleep(0.5)
  }
}
