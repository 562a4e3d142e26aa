# vignettes/steward.Rmd, run as written: its ```{r} chunks in order, in one
# environment, against the live Steward (STEWARD_URL and a researcher's token)
# and three secret-share parties of the binary under test. The environment is
# set the way the vignette tells a reader to set it; where the vignette says
# the participant opens the link (an HTML comment marks the spot),
# helper-participant.R donates as a browser would. knitr is not needed.

vignette_steps <- function(path) {
  lines <- readLines(path, warn = FALSE)
  steps <- list()
  chunk <- NULL
  for (line in lines) {
    if (is.null(chunk) && grepl("^```\\{r[ ,}]", line)) {
      chunk <- character()
    } else if (!is.null(chunk) && line == "```") {
      steps[[length(steps) + 1L]] <- list(kind = "r", code = paste(chunk, collapse = "\n"))
      chunk <- NULL
    } else if (!is.null(chunk)) {
      chunk <- c(chunk, line)
    } else if (line == "<!-- tutorial: the participant donates -->") {
      steps[[length(steps) + 1L]] <- list(kind = "participant", code = "")
    }
  }
  steps
}

test_that("the vignette runs as written", {
  binary <- live_env("STEWARD_BIN")
  stack <- lapply(seq_len(n_parties) - 1L, function(index) start_party(binary, index))
  withr::defer(for (party in stack) stop_party(party))
  for (party in stack) wait_healthy(party)

  # The researcher holds the developer and the scientist role on every party.
  researcher <- vapply(stack, function(party) {
    party_token(party, "tutor@example.org", "developer")
    party_token(party, "tutor@example.org", "scientist")
  }, character(1))
  contributors <- vapply(0:2, function(number) {
    paste(vapply(stack, function(party) party_token(party, sprintf("tutorial-c%d@example.org", number), "contributor"),
      character(1)), collapse = " ")
  }, character(1))
  withr::local_envvar(
    STEWARD_TOKEN = live_env("STEWARD_TEST_TOKEN"),
    STEWARD_PARTY_URLS = paste(vapply(stack, function(party) party$url, character(1)), collapse = " "),
    STEWARD_PARTY_TOKENS = paste(researcher, collapse = " "),
    STEWARD_CONTRIBUTOR_TOKENS = paste(contributors, collapse = "\n")
  )
  vignette <- normalizePath(test_path("..", "..", "vignettes", "steward.Rmd"))
  withr::local_dir(withr::local_tempdir())

  steps <- vignette_steps(vignette)
  expect_equal(sum(vapply(steps, function(step) step$kind == "participant", logical(1))), 1L)
  env <- new.env(parent = globalenv())
  ran <- 0L
  for (step in steps) {
    if (step$kind == "participant") {
      participant_donate(env$link$donation_url)
      next
    }
    ran <- ran + 1L
    eval(parse(text = step$code, keep.source = FALSE), envir = env)
  }

  expect_gte(ran, 10L)
  expect_identical(readBin("received.csv", "raw", 1e6), readBin("search.csv", "raw", 1e6))
  expect_gt(nrow(env$searches), 0L)
  expect_equal(env$result$contributor_count, 3)
})
