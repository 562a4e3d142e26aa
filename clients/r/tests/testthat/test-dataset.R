# The generated admin functions, user_cache() and check_access() against the
# live server: an admin grants a user a dataset, the user sees it, the admin
# revokes it (spec §8 scenarios 1, 50, 53 and 56 as seen from R).

test_that("a grant shows in user_cache and check_access until it is revoked", {
  admin <- admin_client()
  user <- new_user()
  dataset <- new_dataset()
  client <- live_client(token = user$token)

  before <- user_cache(client)
  expect_equal(before$email, user$email)
  expect_false(dataset %in% names(before$permissions_v2))
  expect_identical(check_access(client, dataset), list(allowed = FALSE, reason = "no_permission"))

  created <- create_grant(admin, dataset = dataset, user_email = user$email, level = "ACCESS_LEVEL_VIEW")
  expect_true(created$created)
  expect_equal(created$grant$user_email, user$email)
  grant_id <- created$grant$id
  expect_type(grant_id, "character")
  listed <- list_grants(admin, dataset = dataset)$grants
  expect_equal(vapply(listed, function(g) g$id, ""), grant_id)

  cache <- settled(function() user_cache(client), function(c) dataset %in% names(c$permissions_v2))
  expect_identical(names(cache)[1:5], c("id", "parent_id", "service_account", "name", "email"))
  expect_identical(cache$permissions_v2[[dataset]], "view")
  expect_equal(cache$permissions[[dataset]], 1)
  expect_identical(check_access(client, dataset), list(allowed = TRUE, reason = "direct_grant"))
  expect_identical(check_access(client, dataset, permission = "edit"), list(allowed = FALSE, reason = "no_permission"))

  delete_grant(admin, dataset = dataset, grant_id = grant_id)
  revoked <- settled(function() check_access(client, dataset), function(d) !d$allowed)
  expect_identical(revoked, list(allowed = FALSE, reason = "no_permission"))
  expect_false(dataset %in% names(user_cache(client)$permissions_v2))
  expect_length(list_grants(admin, dataset = dataset)$grants, 0)
})

test_that("check_access passes version and service through", {
  admin <- admin_client()
  user <- new_user()
  dataset <- new_dataset()
  for (version in c("v1", "v2")) create_dataset_version(admin, dataset = dataset, version = version)
  create_grant(admin, dataset = dataset, user_email = user$email, level = "ACCESS_LEVEL_EDIT", version = "v1")
  service <- paste0("svc-", random_name())
  create_service(admin, name = service, display_name = "testthat service")
  tos <- create_tos_document(admin, name = "Service terms", text = "Be nice.", dataset = dataset, service = service)
  client <- live_client(token = user$token)

  expect_true(check_access(client, dataset, "edit", version = "v1")$allowed)
  expect_identical(check_access(client, dataset, "edit", version = "v2"), list(allowed = FALSE, reason = "no_permission"))
  expect_identical(
    check_access(client, dataset, "edit", version = "v1", service = service),
    list(allowed = FALSE, reason = "tos_required", tos_id = as.integer(tos$document$id),
      tos_name = "Service terms", service = service)
  )
  cache <- user_cache(client, service = service)
  expect_false(dataset %in% names(cache$permissions_v2))
  expect_identical(cache$permissions_v2_ignore_tos[[dataset]], c("edit", "view"))
  last <- cache$missing_tos[[length(cache$missing_tos)]]
  expect_equal(last$dataset_name, dataset)
  expect_equal(last$service, service)
  expect_identical(user_cache(client)$permissions_v2[[dataset]], c("edit", "view"))
})

test_that("a plain user is refused the admin functions", {
  client <- live_client()
  dataset <- new_dataset()
  err <- expect_error(create_dataset(client, name = paste0("r-", random_name()), access_mode = "ACCESS_MODE_PUBLIC"),
    class = "steward_permission_denied")
  expect_equal(err$code, "PERMISSION_DENIED")
  expect_error(list_datasets(client), class = "steward_permission_denied")
  expect_error(create_grant(client, dataset = dataset, user_email = "someone@example.org", level = "ACCESS_LEVEL_VIEW"),
    class = "steward_permission_denied")
})

test_that("bad input is INVALID_ARGUMENT, an unknown dataset NOT_FOUND", {
  admin <- admin_client()
  expect_error(create_dataset(admin, name = "not a slug!", access_mode = "ACCESS_MODE_CLOSED"),
    class = "steward_invalid_argument")
  expect_error(create_dataset(admin, name = paste0("r-", random_name())), class = "steward_invalid_argument")
  err <- expect_error(check_access(admin, ""), class = "steward_invalid_argument")
  expect_match(err$grpc_message, "dataset is required", fixed = TRUE)
  expect_error(check_access(admin, "anything", permission = "owner"), class = "steward_invalid_argument")
  expect_error(check_access(admin, paste0("no-such-", random_name())), class = "steward_not_found")
  expect_error(user_cache(live_client(token = NULL)), class = "steward_unauthenticated")
})

test_that("a global admin is allowed and sees every dataset", {
  admin <- admin_client()
  dataset <- new_dataset()
  expect_identical(check_access(admin, dataset, "admin"), list(allowed = TRUE, reason = "admin"))
  expect_true(user_cache(admin)$admin)
  expect_equal(get_dataset(admin, name = dataset)$dataset$name, dataset)
})

test_that("the helpers check their arguments before calling", {
  client <- live_client()
  expect_error(check_access(client, c("a", "b")), "one dataset name")
  expect_error(check_access(client, "a", version = 1), "version must be one string")
  expect_error(user_cache(client, service = NA_character_), "service must be one string")
})
