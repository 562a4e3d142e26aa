# The live server and credentials tests/e2e/run provides. A missing variable
# fails the test that needs it: these tests are never silently skipped.
live_env <- function(name) {
  value <- Sys.getenv(name)
  if (!nzchar(value)) stop(name, " is not set: run these tests with `tests/e2e/run r`", call. = FALSE)
  value
}

live_client <- function(token = live_env("STEWARD_TEST_TOKEN"), url = live_env("STEWARD_URL")) {
  steward_client(url, token = token)
}

# What grpcurl (an independent gRPC client, over native gRPC) says a field of
# WhoAmI is for this token: proto3 JSON prints int64 as a quoted string.
grpcurl_who_am_i_field <- function(token, field) {
  grpcurl <- file.path(live_env("STEWARD_VENV"), "bin", "grpcurl")
  out <- system2(grpcurl, c(
    "-plaintext", "-H", shQuote(paste("authorization: Bearer", token)),
    live_env("STEWARD_ADDR"), "steward.authorization.v1.AuthorizationService/WhoAmI"
  ), stdout = TRUE)
  json <- paste(out, collapse = "\n")
  sub(sprintf('.*"%s": "?([^",\n]*)"?.*', field), "\\1", json)
}

# A user of the test's own, list(email, token), made with the real CLI
# (STEWARD_BIN on the orchestrator's STEWARD_DATA_DIR): tests that grant and
# revoke must not change what the shared test user sees in other suites.
new_user <- function() {
  email <- sprintf("r-%s@example.org", random_name())
  out <- system2(live_env("STEWARD_BIN"),
    c("token", "create", "--email", email, "--role", "researcher", "--description", "testthat"),
    stdout = TRUE, stderr = FALSE
  )
  status <- attr(out, "status")
  if (!is.null(status) && status != 0) stop("steward token create failed with status ", status, call. = FALSE)
  list(email = email, token = out[[length(out)]])
}

random_name <- function() paste(sample(c(letters, 0:9), 12, replace = TRUE), collapse = "")

admin_client <- function() live_client(token = live_env("STEWARD_ADMIN_TOKEN"))

# A closed dataset of the test's own, made by the admin; returns its name.
new_dataset <- function() {
  name <- paste0("r-", random_name())
  create_dataset(admin_client(), name = name, description = "from testthat", access_mode = "ACCESS_MODE_CLOSED")
  name
}

# read() once wanted(read()) holds, or its last value after `within` seconds:
# Steward evicts permission caches on NOTIFY, which every replica (the writer
# too) receives asynchronously; the spec promises a change everywhere within
# one second (§8 scenario 20), so a script may see it that much later.
settled <- function(read, wanted, within = 1) {
  deadline <- Sys.time() + within
  repeat {
    value <- read()
    if (isTRUE(wanted(value)) || Sys.time() >= deadline) return(value)
    Sys.sleep(0.02)
  }
}
