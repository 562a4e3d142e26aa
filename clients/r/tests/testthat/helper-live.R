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
