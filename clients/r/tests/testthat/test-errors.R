# Failures become steward_error conditions carrying the gRPC status.

expect_status <- function(condition, name) {
  expect_s3_class(condition, "steward_error")
  expect_s3_class(condition, paste0("steward_", tolower(name)))
  expect_identical(condition$code, name)
  expect_identical(unname(condition$status), steward_status_codes[[name]])
  expect_identical(names(condition$status), name)
}

test_that("an unknown token is UNAUTHENTICATED", {
  unknown <- paste(rep("ab", 32), collapse = "")
  err <- expect_error(who_am_i(live_client(token = unknown)), class = "steward_unauthenticated")
  expect_status(err, "UNAUTHENTICATED")
  expect_equal(unname(err$status), 16L)
  expect_true(nzchar(err$grpc_message))
  expect_match(conditionMessage(err), "^UNAUTHENTICATED: ")
})

test_that("a malformed token is UNAUTHENTICATED with the server's percent-decoded explanation", {
  err <- expect_error(who_am_i(live_client(token = "not-a-token")), class = "steward_unauthenticated")
  expect_status(err, "UNAUTHENTICATED")
  expect_match(err$grpc_message, "64 hexadecimal characters", fixed = TRUE)
  expect_false(grepl("%[0-9A-Fa-f]{2}", err$grpc_message))
})

test_that("no token is UNAUTHENTICATED", {
  err <- expect_error(who_am_i(live_client(token = NULL)), class = "steward_unauthenticated")
  expect_status(err, "UNAUTHENTICATED")
  expect_equal(err$method, "/steward.authorization.v1.AuthorizationService/WhoAmI")
  expect_equal(err$url, live_env("STEWARD_URL"))
})

test_that("an unreachable server is UNAVAILABLE, naming the address", {
  # Port 1 on loopback: nothing listens there.
  err <- expect_error(who_am_i(steward_client("http://127.0.0.1:1", token = "x")), class = "steward_unavailable")
  expect_status(err, "UNAVAILABLE")
  expect_match(conditionMessage(err), "cannot reach Steward at http://127.0.0.1:1", fixed = TRUE)
})

test_that("an unknown method is UNIMPLEMENTED", {
  # A path prefix the server does not serve: Steward answers gRPC callers there
  # with UNIMPLEMENTED rather than its HTML/JSON 404.
  client <- steward_client(paste0(live_env("STEWARD_URL"), "/no-such-prefix"), token = live_env("STEWARD_TEST_TOKEN"))
  expect_error(who_am_i(client), class = "steward_unimplemented")
})

test_that("the server's NOT_FOUND reaches the caller with its class", {
  err <- expect_error(health_check(live_client(), service = "no.such.Service"), class = "steward_not_found")
  expect_status(err, "NOT_FOUND")
})

test_that("conditions can be caught by status with tryCatch", {
  outcome <- tryCatch(who_am_i(live_client(token = NULL)),
    steward_unauthenticated = function(e) "sign in",
    steward_error = function(e) "other"
  )
  expect_equal(outcome, "sign in")
})

test_that("bad arguments are refused before anything is sent", {
  expect_error(steward_client("127.0.0.1:8080"), "http:// or https://")
  expect_error(steward_client(live_env("STEWARD_URL"), token = ""), "non-empty")
  expect_error(who_am_i("http://127.0.0.1:1"), "steward_client")
})
