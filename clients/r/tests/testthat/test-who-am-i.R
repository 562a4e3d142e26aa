# who_am_i() against the live server: the user behind the token comes back.

test_that("who_am_i returns the token's user, email and roles", {
  me <- who_am_i(live_client())
  expect_s4_class(me, "Message")
  expect_equal(me$email, live_env("STEWARD_TEST_EMAIL"))
  expect_equal(me$roles, "researcher")
  expect_true(me$is_active)
  expect_false(me$admin)
  expect_false(me$service_account)
})

test_that("an admin token is a different user with the admin role", {
  me <- who_am_i(live_client(token = live_env("STEWARD_ADMIN_TOKEN")))
  expect_equal(me$email, "admin@example.org")
  expect_true(me$admin)
  expect_true("admin" %in% me$roles)
})

test_that("64-bit ids come back exactly, as grpcurl sees them", {
  for (token in c(live_env("STEWARD_TEST_TOKEN"), live_env("STEWARD_ADMIN_TOKEN"))) {
    id <- who_am_i(live_client(token = token))$id
    expect_type(id, "character")
    expect_match(id, "^[1-9][0-9]*$")
    expect_identical(id, grpcurl_who_am_i_field(token, "id"))
  }
  researcher <- who_am_i(live_client())$id
  admin <- who_am_i(live_client(token = live_env("STEWARD_ADMIN_TOKEN")))$id
  expect_false(identical(researcher, admin))
})

test_that("a URL with a trailing slash works the same", {
  me <- who_am_i(steward_client(paste0(live_env("STEWARD_URL"), "/"), token = live_env("STEWARD_TEST_TOKEN")))
  expect_equal(me$email, live_env("STEWARD_TEST_EMAIL"))
})

test_that("who_am_i works through Envoy's grpc_web filter", {
  # tests/e2e/run always starts Envoy in front of Steward and exports ENVOY_URL.
  me <- who_am_i(live_client(url = live_env("ENVOY_URL")))
  expect_equal(me$email, live_env("STEWARD_TEST_EMAIL"))
  expect_error(who_am_i(live_client(token = NULL, url = live_env("ENVOY_URL"))), class = "steward_unauthenticated")
})

test_that("printing a client never shows its token", {
  token <- live_env("STEWARD_TEST_TOKEN")
  shown <- capture.output(print(live_client()))
  expect_false(any(grepl(token, shown, fixed = TRUE)))
  expect_match(shown, "token set", fixed = TRUE)
})
