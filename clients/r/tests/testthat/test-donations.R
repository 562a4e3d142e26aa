# The researcher's donation helpers (create_donation, list_donations,
# get_donation, donation_data, delete_donation) against the live server, as a
# study script in R uses them (spec donation.md §2 and §8 as seen from R).

enum_value <- function(enum, name) RProtoBuf::P(paste0("steward.donation.v1.", enum))[[name]]

# Waits until `client` sees a grant just made: permission caches are evicted
# asynchronously, within one second everywhere (spec §8 scenario 20).
seen <- function(client, dataset, permission) {
  answer <- settled(function() check_access(client, dataset, permission), function(a) a$allowed)
  if (!isTRUE(answer$allowed)) stop(permission, " on ", dataset, " not seen within a second", call. = FALSE)
}

test_that("a donation is created, read, listed and deleted", {
  client <- live_client(token = new_user()$token)
  made <- create_donation(client, "google_portability",
    data_start_date = as.Date("2024-01-01"), data_end_date = "2024-06-30",
    requested_data_types = c("search", "youtube_history", "search"),
    description = "Thank you for taking part."
  )
  donation <- made$donation
  expect_type(donation$id, "character")
  expect_equal(donation$source, enum_value("DonationSource", "DONATION_SOURCE_GOOGLE_PORTABILITY"))
  expect_equal(donation$status, enum_value("DonationStatus", "DONATION_STATUS_PENDING"))
  expect_equal(donation$stage, enum_value("DonationStage", "DONATION_STAGE_CREATED"))
  expect_identical(c(donation$data_start_date, donation$data_end_date), c("2024-01-01", "2024-06-30"))
  expect_setequal(donation$requested_data_types, c("search", "youtube_history"))
  expect_equal(donation$description, "Thank you for taking part.")
  expect_identical(made$donation_url, paste0(live_env("STEWARD_URL"), "/donate/", made$token, "/"))

  got <- get_donation(client, donation$id)
  expect_identical(got$id, donation$id)
  expect_setequal(vapply(got$data_types, function(entry) entry$key, ""), c("search", "youtube_history"))
  expect_identical(get_donation(client, got)$id, donation$id)
  expect_identical(get_donation(client, as.numeric(donation$id))$id, donation$id)

  everything <- create_donation(client)$donation
  expect_identical(c(everything$data_start_date, everything$data_end_date), c("", ""))
  expect_true(all(c("search", "youtube_history", "discover") %in% everything$requested_data_types))
  ids <- function() vapply(list_donations(client), function(d) d$id, "")
  expect_identical(ids(), c(donation$id, everything$id))

  expect_null(delete_donation(client, donation$id))
  expect_error(get_donation(client, donation$id), class = "steward_not_found")
  expect_identical(ids(), everything$id)
  expect_error(delete_donation(client, donation$id), class = "steward_not_found")
})

test_that("list_donations walks every page and filters by dataset", {
  user <- new_user()
  client <- live_client(token = user$token)
  dataset <- new_dataset()
  create_grant(admin_client(), dataset = dataset, user_email = user$email, level = "ACCESS_LEVEL_EDIT")
  seen(client, dataset, "edit")
  made <- vapply(1:3, function(i) create_donation(client, requested_data_types = "search")$donation$id, "")
  filed <- create_donation(client, dataset = dataset, requested_data_types = "search")$donation
  expect_equal(filed$dataset, dataset)

  ids <- function(...) vapply(list_donations(...), function(d) d$id, "")
  expect_identical(ids(client, page_size = 1), c(made, filed$id))
  expect_identical(ids(client, page_size = 2L), c(made, filed$id))
  expect_identical(ids(client, dataset = dataset), filed$id)
  expect_identical(ids(admin_client(), dataset = dataset), filed$id)
})

test_that("a repeated request_id returns the same donation with a new link", {
  client <- live_client(token = new_user()$token)
  first <- create_donation(client, requested_data_types = "search", request_id = "0b0c7f0e-6f7d-4c59-9a51-6d7c2f1e9a01")
  again <- create_donation(client, requested_data_types = "search", request_id = "0b0c7f0e-6f7d-4c59-9a51-6d7c2f1e9a01")
  expect_identical(again$donation$id, first$donation$id)
  expect_false(identical(again$donation_url, first$donation_url))
  # Without one, each call is a new donation, even after set.seed().
  set.seed(1)
  a <- create_donation(client, requested_data_types = "search")$donation$id
  set.seed(1)
  b <- create_donation(client, requested_data_types = "search")$donation$id
  expect_false(identical(a, b))
  expect_length(list_donations(client), 3L)
})

test_that("donation_data of a donation without rows is an empty data.frame", {
  client <- live_client(token = new_user()$token)
  donation <- create_donation(client, requested_data_types = "search")$donation
  expect_length(list_donation_data_types(client, donation_id = donation$id)$data_types, 0L)
  frame <- donation_data(client, donation$id, "search", start_date = "2024-01-01", end_date = as.Date("2024-12-31"))
  expect_s3_class(frame, "data.frame")
  expect_identical(dim(frame), c(0L, 0L))
  expect_identical(dim(donation_data(client, donation, "youtube_history", page_size = 10)), c(0L, 0L))
})

test_that("the server's refusals are steward conditions of their status", {
  user <- new_user()
  client <- live_client(token = user$token)
  expect_error(create_donation(client, requested_data_types = "no_such_type"),
    class = "steward_invalid_argument", regexp = "no_such_type")
  expect_error(create_donation(client, data_start_date = "2024-06-01", data_end_date = "2024-01-01"),
    class = "steward_invalid_argument")
  expect_error(create_donation(client, description = strrep("x", 2001)), class = "steward_invalid_argument")
  expect_error(create_donation(client, dataset = paste0("r-missing-", random_name())),
    class = "steward_invalid_argument", regexp = "Unknown dataset")
  viewed <- new_dataset()
  create_grant(admin_client(), dataset = viewed, user_email = user$email, level = "ACCESS_LEVEL_VIEW")
  seen(client, viewed, "view")
  expect_error(create_donation(client, dataset = viewed), class = "steward_permission_denied")

  donation <- create_donation(client, requested_data_types = "search")$donation
  expect_error(donation_data(client, donation$id, ""), class = "steward_invalid_argument", regexp = "data_type")
  expect_error(donation_data(client, donation$id, "search", start_date = "2024-06-01", end_date = "2024-01-01"),
    class = "steward_invalid_argument")

  # Someone else's donation does not exist for the shared test user.
  other <- live_client()
  expect_error(get_donation(other, donation$id), class = "steward_not_found")
  expect_error(delete_donation(other, donation$id), class = "steward_not_found")
  expect_error(donation_data(other, donation$id, "search"), class = "steward_not_found")
  expect_false(donation$id %in% vapply(list_donations(other), function(d) d$id, ""))
  expect_error(get_donation(client, "4611686018427387904"), class = "steward_not_found")
  expect_error(list_donations(live_client(token = NULL)), class = "steward_unauthenticated")
  expect_identical(get_donation(client, donation$id)$id, donation$id)
})

test_that("arguments of the wrong shape fail before anything is sent", {
  client <- live_client()
  expect_error(create_donation(client, "facebook"), "unknown source \"facebook\"")
  expect_error(create_donation(client, data_start_date = Sys.time()), "not a date-time")
  expect_error(create_donation(client, data_end_date = "1/2/2024"), "YYYY-MM-DD")
  expect_error(create_donation(client, requested_data_types = list("search")), "character vector")
  expect_error(get_donation(client, "12abc"), "positive whole number")
  expect_error(get_donation(client, 1.5), "positive whole number")
  expect_error(delete_donation(client, 0), "positive whole number")
  expect_error(list_donations(client, page_size = 1001), "page_size")
  expect_error(donation_data(client, "1", c("a", "b")), "one data type")
  tiktok <- create_donation(live_client(token = new_user()$token), "DONATION_SOURCE_TIKTOK_PORTABILITY",
    requested_data_types = "likes")$donation
  expect_equal(tiktok$source, enum_value("DonationSource", "DONATION_SOURCE_TIKTOK_PORTABILITY"))
})

test_that("rows become typed columns", {
  # The shape QueryDonationData answers (spec §4.3.3), read the way donation_data reads each page.
  page <- RProtoBuf::readJSON(RProtoBuf::P("steward.donation.v1.QueryDonationDataResponse"), '{"rows": [
    {"data_type": "youtube_history", "device_id": "42", "timestamp": "2024-01-15T10:00:00.000Z",
     "platform": "YouTube", "time": "2024-01-15T10:00:00.000Z", "title": "Watched Test Video \u00c4lpha",
     "is_ad": false, "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"},
    {"data_type": "youtube_history", "device_id": "42", "timestamp": "2024-01-16T23:59:59.999Z",
     "platform": "YouTube", "time": null, "title": null, "is_ad": true, "url": null},
    {"data_type": "youtube_history", "device_id": "42", "timestamp": null,
     "platform": "YouTube", "time": null, "title": "Watched https://www.youtube.com/watch?v=x", "is_ad": null,
     "url": null}], "totalCount": "3"}')
  frame <- steward:::donation_rows_frame(steward:::donation_page_rows(page))

  expect_identical(names(frame), c("data_type", "device_id", "timestamp", "platform", "is_ad", "time", "title", "url"))
  expect_s3_class(frame$timestamp, "POSIXct")
  expect_identical(attr(frame$timestamp, "tzone"), "UTC")
  expect_equal(frame$timestamp[[1]], as.POSIXct("2024-01-15 10:00:00", tz = "UTC"))
  expect_equal(as.numeric(frame$timestamp[[2]]), as.numeric(as.POSIXct("2024-01-16 23:59:59", tz = "UTC")) + 0.999,
    tolerance = 1e-6)
  expect_true(is.na(frame$timestamp[[3]]))
  expect_s3_class(frame$time, "POSIXct")
  expect_identical(frame$is_ad, c(FALSE, TRUE, NA))
  expect_identical(frame$device_id, c("42", "42", "42"))
  expect_identical(frame$title, c("Watched Test Video \u00c4lpha", NA, "Watched https://www.youtube.com/watch?v=x"))
  mixed <- steward:::donation_rows_frame(list(list(when = "2024-01-15T10:00:00.000Z"), list(when = "yesterday")))
  expect_identical(mixed$when, c("2024-01-15T10:00:00.000Z", "yesterday"))
})

test_that("donation_data reads every row of a processed donation", {
  # A participant donates through the sandbox Google provider (the tiny
  # persona); Steward's workers process it; the researcher reads the rows.
  client <- live_client(token = new_user()$token)
  made <- create_donation(client, requested_data_types = c("youtube_history", "search"))
  participant_donate(made$donation_url, c(persona = "tiny"))
  donation <- processed_donation(client, made$donation$id)
  rows <- vapply(donation$data_types, function(entry) as.numeric(entry$value$rows), 0)
  names(rows) <- vapply(donation$data_types, function(entry) entry$key, "")
  expect_setequal(names(rows), c("youtube_history", "search"))
  expect_identical(list_donation_data_types(client, donation_id = donation$id)$data_types,
    c("youtube_history", "search"))

  frame <- donation_data(client, donation$id, "search")
  expect_equal(nrow(frame), rows[["search"]])
  expect_gte(nrow(frame), 3L)
  expect_identical(names(frame)[1:4], c("data_type", "device_id", "timestamp", "platform"))
  expect_true(all(frame$data_type == "search"))
  expect_true(all(frame$device_id == donation$id))
  expect_s3_class(frame$timestamp, "POSIXct")
  expect_identical(attr(frame$timestamp, "tzone"), "UTC")
  expect_false(anyNA(frame$timestamp))
  expect_false(is.unsorted(frame$timestamp))
  expect_equal(frame$time, frame$timestamp)
  expect_type(frame$title, "character")

  # Page by page (2 rows a call) the same data.frame comes back.
  expect_identical(donation_data(client, donation$id, "search", page_size = 2), frame)
  days <- sort(unique(as.Date(frame$timestamp, tz = "UTC")))
  since <- donation_data(client, donation$id, "search", start_date = days[[length(days)]])
  expected <- frame[as.Date(frame$timestamp, tz = "UTC") >= days[[length(days)]], , drop = FALSE]
  rownames(expected) <- NULL
  expect_identical(since, expected)
  until <- donation_data(client, donation$id, "search", end_date = format(days[[1]]), page_size = 1)
  expected <- frame[as.Date(frame$timestamp, tz = "UTC") <= days[[1]], , drop = FALSE]
  rownames(expected) <- NULL
  expect_identical(until, expected)

  youtube <- donation_data(client, donation, "youtube_history")
  expect_equal(nrow(youtube), rows[["youtube_history"]])
  expect_true(all(youtube$platform == "YouTube"))

  delete_donation(client, donation$id)
  expect_error(donation_data(client, donation$id, "search"), class = "steward_not_found")
})
