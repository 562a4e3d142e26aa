# export_donation_data() against the live server: a participant donates through
# the sandbox Google provider, Steward's workers process the donation, and the
# researcher pulls it with the server-streaming ExportDonationData over
# gRPC-web. What the stream gives must be what QueryDonationData's pages give,
# row for row (spec donation.md §2.7, §2.9).

# More than one 1,000-row batch for search; two types with different columns.
export_records <- c(search = 2300, youtube_history = 1200)

export_fixture <- local({
  made <- NULL
  function() {
    if (is.null(made)) {
      client <- live_client(token = new_user()$token)
      created <- create_donation(client, requested_data_types = c("youtube_history", "search"))
      records <- paste0(names(export_records), ":", export_records, collapse = ",")
      participant_donate(created$donation_url, c(persona = "tiny", records = records))
      made <<- list(client = client, donation = processed_donation(client, created$donation$id))
    }
    made
  }
})

# Every row of one type through QueryDonationData's pages (700 rows a call).
query_pages <- function(client, id, data_type, ...) donation_data(client, id, data_type, page_size = 700, ...)

# The rows of one type from an every-type frame, without the columns only other types have.
of_type <- function(frame, data_type) {
  part <- frame[frame$data_type == data_type, , drop = FALSE]
  rownames(part) <- NULL
  part[, vapply(part, function(column) !all(is.na(column)), logical(1)), drop = FALSE]
}

without_empty_columns <- function(frame) {
  frame[, vapply(frame, function(column) !all(is.na(column)), logical(1)), drop = FALSE]
}

test_that("an export of every type equals the Query pages row for row", {
  fixture <- export_fixture()
  client <- fixture$client
  donation <- fixture$donation
  rows <- vapply(donation$data_types, function(entry) as.numeric(entry$value$rows), 0)
  names(rows) <- vapply(donation$data_types, function(entry) entry$key, "")
  expect_equal(rows[names(export_records)], export_records)

  frame <- export_donation_data(client, donation$id, progress = FALSE)
  expect_s3_class(frame, "data.frame")
  expect_equal(nrow(frame), sum(export_records))
  # The types one after the other in catalogue order, each oldest first.
  expect_identical(unique(frame$data_type), c("youtube_history", "search"))
  for (data_type in names(export_records)) {
    part <- of_type(frame, data_type)
    expect_identical(part, without_empty_columns(query_pages(client, donation$id, data_type)))
    expect_false(is.unsorted(part$timestamp))
  }
  # Columns in the stored key order; timestamps POSIXct in UTC, booleans logical, ids strings.
  expect_identical(names(frame)[1:5], c("data_type", "device_id", "timestamp", "platform", "time"))
  expect_s3_class(frame$timestamp, "POSIXct")
  expect_identical(attr(frame$timestamp, "tzone"), "UTC")
  expect_type(frame$is_ad, "logical")
  expect_true(all(frame$device_id == donation$id))
  expect_type(frame$video_id, "character")
})

test_that("one type, and donation_data, read the same stream", {
  fixture <- export_fixture()
  client <- fixture$client
  id <- fixture$donation$id
  search <- export_donation_data(client, id, "search", progress = FALSE)
  expect_equal(nrow(search), export_records[["search"]])
  expect_identical(search, query_pages(client, id, "search"))
  expect_identical(donation_data(client, id, "search"), search)
  expect_identical(names(search)[1:4], c("data_type", "device_id", "timestamp", "platform"))
})

test_that("date filters keep the whole days from start_date through end_date", {
  fixture <- export_fixture()
  client <- fixture$client
  id <- fixture$donation$id
  whole <- export_donation_data(client, id, "search", progress = FALSE)
  days <- sort(unique(as.Date(whole$timestamp, tz = "UTC")))
  start <- days[[length(days) %/% 3]]
  end <- days[[2 * length(days) %/% 3]]
  window <- export_donation_data(client, id, "search", start_date = start, end_date = format(end), progress = FALSE)
  dates <- as.Date(whole$timestamp, tz = "UTC")
  expected <- whole[dates >= start & dates <= end, , drop = FALSE]
  rownames(expected) <- NULL
  expect_identical(window, expected)
  expect_identical(window, query_pages(client, id, "search", start_date = start, end_date = end))
  expect_gt(nrow(window), 0L)
  expect_lt(nrow(window), nrow(whole))
  expect_identical(dim(export_donation_data(client, id, start_date = "1999-01-01", end_date = "1999-12-31")),
    c(0L, 0L))
})

test_that("progress is reported when asked for", {
  fixture <- export_fixture()
  shown <- testthat::capture_messages(export_donation_data(fixture$client, fixture$donation$id, "search",
    progress = TRUE))
  expect_true(any(grepl("donation [0-9]+: 1,000 rows", shown)))
  expect_true(any(grepl("2,300 rows", shown)))
  expect_silent(export_donation_data(fixture$client, fixture$donation$id, "search", progress = FALSE))
})

test_that("refusals are steward conditions", {
  fixture <- export_fixture()
  id <- fixture$donation$id
  # Another researcher: the donation does not exist for them.
  expect_error(export_donation_data(live_client(), id), class = "steward_not_found")
  expect_error(export_donation_data(fixture$client, "4611686018427387904"), class = "steward_not_found")
  expect_error(export_donation_data(fixture$client, id, "likes"), class = "steward_invalid_argument",
    regexp = "likes")
  expect_error(export_donation_data(fixture$client, id, start_date = "2024-06-01", end_date = "2024-01-01"),
    class = "steward_invalid_argument", regexp = "start_date must not be after end_date")
  expect_error(export_donation_data(fixture$client, id, start_date = "1/2/2024"), "YYYY-MM-DD")
  expect_error(export_donation_data(fixture$client, id, c("a", "b")), "one data type")
  # donation_data keeps Query's answer for a type the source does not have: no rows.
  expect_identical(dim(donation_data(fixture$client, id, "likes")), c(0L, 0L))

  # Deleted: gone for the export too.
  client <- live_client(token = new_user()$token)
  created <- create_donation(client, requested_data_types = "search")
  participant_donate(created$donation_url)
  done <- processed_donation(client, created$donation$id)
  expect_gt(nrow(export_donation_data(client, done$id, progress = FALSE)), 0L)
  delete_donation(client, done$id)
  expect_error(export_donation_data(client, done$id, progress = FALSE), class = "steward_not_found")
})
