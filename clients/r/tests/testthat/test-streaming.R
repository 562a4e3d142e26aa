# Server-streaming over gRPC-web against the live server: grpc.health.v1's
# Watch sends the current status at once and then holds the stream open.

test_that("health_check says the server is SERVING", {
  status <- health_check(live_client(token = NULL))$status
  serving <- RProtoBuf::P("grpc.health.v1.HealthCheckResponse")$ServingStatus$SERVING
  expect_equal(status, serving)
})

test_that("health_watch hands each message to the callback and FALSE ends the stream", {
  seen <- list()
  n <- health_watch(live_client(token = NULL), .callback = function(message) {
    seen[[length(seen) + 1L]] <<- message
    FALSE
  }, .timeout = 20)
  expect_equal(n, 1L)
  expect_length(seen, 1L)
  expect_equal(seen[[1]]$status, 1L) # SERVING
})

test_that("a stream that outlives its timeout is DEADLINE_EXCEEDED", {
  started <- Sys.time()
  err <- expect_error(health_watch(live_client(token = NULL), .timeout = 1), class = "steward_deadline_exceeded")
  expect_equal(unname(err$status), 4L)
  expect_lt(as.numeric(difftime(Sys.time(), started, units = "secs")), 15)
})

test_that("a stream that ends returns every message and honours the trailers", {
  # Read a unary method's answer as a stream: one message, then the trailer
  # frame with grpc-status 0 ends it.
  path <- "/steward.authorization.v1.AuthorizationService/WhoAmI"
  messages <- steward_server_stream(live_client(), path,
    "steward.authorization.v1.WhoAmIRequest", "steward.authorization.v1.WhoAmIResponse", list())
  expect_length(messages, 1L)
  expect_equal(messages[[1]]$email, live_env("STEWARD_TEST_EMAIL"))
})

test_that("a stream refused by the server raises its status", {
  path <- "/steward.authorization.v1.AuthorizationService/WhoAmI"
  expect_error(
    steward_server_stream(live_client(token = NULL), path,
      "steward.authorization.v1.WhoAmIRequest", "steward.authorization.v1.WhoAmIResponse", list()),
    class = "steward_unauthenticated"
  )
})

test_that("errors raised by the callback reach the caller unchanged", {
  err <- expect_error(health_watch(live_client(token = NULL), .callback = function(m) stop("mine"), .timeout = 20), "mine")
  expect_false(inherits(err, "steward_error"))
})
