# gRPC-web framing and response interpretation on bytes built here: the cases
# a well-behaved local server rarely produces (frames split across reads,
# percent-encoded messages, a proxy's error page).

test_that("a frame is a zero flag, a big-endian length and the payload", {
  payload <- as.raw(1:3)
  expect_identical(grpc_web_frame(payload), as.raw(c(0, 0, 0, 0, 3, 1, 2, 3)))
  big <- as.raw(rep(7L, 70000L))
  expect_identical(grpc_web_frame(big)[1:5], as.raw(c(0, 0, 1, 0x11, 0x70)))
})

test_that("the reader reassembles frames split anywhere across reads", {
  trailer <- charToRaw("grpc-status:0\r\ngrpc-message:ok\r\n")
  bytes <- c(grpc_web_frame(as.raw(c(8, 1))), grpc_web_frame(raw(0)),
    as.raw(0x80), as.raw(c(0, 0, 0, length(trailer))), trailer)
  shape <- function(frames) lapply(frames, function(f) list(f$flag, f$payload))
  whole <- grpc_web_reader()$push(bytes)
  expect_equal(shape(whole), list(list(0L, as.raw(c(8, 1))), list(0L, raw(0)), list(0x80L, trailer)))
  for (cut in seq_along(bytes)) {
    reader <- grpc_web_reader()
    frames <- c(reader$push(bytes[seq_len(cut - 1L)]), reader$push(bytes[cut:length(bytes)]))
    if (!identical(shape(frames), shape(whole)) || reader$pending() != 0L) fail(sprintf("split before byte %d", cut))
  }
  frames <- whole
  parsed <- grpc_web_trailers(frames[[3]]$payload)
  expect_equal(parsed[["grpc-status"]], "0")
  expect_equal(parsed[["grpc-message"]], "ok")
})

test_that("trailer keys are case-insensitive and grpc-message is percent-decoded", {
  client <- structure(list(url = "http://example.invalid"), class = "steward_client")
  trailers <- grpc_web_trailers(charToRaw("Grpc-Status: 7\r\nGrpc-Message: no%20access%3A 50%25\r\n"))
  err <- grpc_web_outcome(client, "/x.v1.S/M", 200L, list(), trailers, TRUE, raw(0))
  expect_s3_class(err, "steward_permission_denied")
  expect_equal(err$grpc_message, "no access: 50%")
})

test_that("trailers-only errors in the HTTP headers win", {
  client <- structure(list(url = "http://example.invalid"), class = "steward_client")
  headers <- list("grpc-status" = "16", "grpc-message" = "who%20are%20you")
  err <- grpc_web_outcome(client, "/x.v1.S/M", 200L, headers, NULL, TRUE, raw(0))
  expect_s3_class(err, "steward_unauthenticated")
  expect_equal(err$grpc_message, "who are you")
})

test_that("a proxy's error page maps to gRPC's status for that HTTP code", {
  client <- structure(list(url = "http://example.invalid"), class = "steward_client")
  page <- charToRaw("<html>Bad Gateway</html>")
  err <- grpc_web_outcome(client, "/x.v1.S/M", 502L, list("content-type" = "text/html"), NULL, FALSE, page)
  expect_s3_class(err, "steward_unavailable")
  expect_match(conditionMessage(err), "HTTP 502 from http://example.invalid/x.v1.S/M", fixed = TRUE)
  expect_s3_class(grpc_web_outcome(client, "/m", 404L, list(), NULL, FALSE, raw(0)), "steward_unimplemented")
  expect_s3_class(grpc_web_outcome(client, "/m", 401L, list(), NULL, FALSE, raw(0)), "steward_unauthenticated")
})

test_that("a response cut off before its status is INTERNAL, a non-gRPC 200 is UNKNOWN", {
  client <- structure(list(url = "http://example.invalid"), class = "steward_client")
  expect_s3_class(grpc_web_outcome(client, "/m", 200L, list(), NULL, TRUE, raw(0)), "steward_internal")
  err <- grpc_web_outcome(client, "/m", 200L, list("content-type" = "text/html"), NULL, FALSE, raw(0))
  expect_s3_class(err, "steward_unknown")
  expect_match(conditionMessage(err), "not gRPC-web")
})

test_that("status 0 is success and unknown codes are UNKNOWN", {
  client <- structure(list(url = "http://example.invalid"), class = "steward_client")
  expect_null(grpc_web_outcome(client, "/m", 200L, list("grpc-status" = "0"), NULL, TRUE, raw(0)))
  err <- grpc_web_outcome(client, "/m", 200L, list("grpc-status" = "99"), NULL, TRUE, raw(0))
  expect_s3_class(err, "steward_unknown")
  expect_equal(unname(err$status), 99L)
})

test_that("request arguments become message fields; NULL leaves them unset", {
  message <- steward_message("steward.authorization.v1.WhoAmIResponse",
    list(id = "9007199254740993", email = "a@b.c", roles = c("x", "y"), name = NULL))
  expect_identical(message$id, "9007199254740993")
  expect_identical(message$roles, c("x", "y"))
  expect_false(RProtoBuf::has(message, "name"))
  back <- RProtoBuf::read(RProtoBuf::P("steward.authorization.v1.WhoAmIResponse"), RProtoBuf::serialize(message, NULL))
  expect_identical(back$id, "9007199254740993")
  expect_error(steward_message("steward.authorization.v1.WhoAmIResponse", list(admin = "maybe")), "argument admin")
})
