# The researcher's donation calls with plain R arguments: create_donation(),
# list_donations() (every page), get_donation(), donation_data() (one type's
# rows as a data.frame), export_donation_data() (every type's rows, streamed)
# and delete_donation(). They call
# DonationService's typed RPCs through the generated donation_*() functions
# (R/rpc.R), so the token, timeout and steward_error conditions are those of
# every other call.

#' Donations for researchers: create, list, read rows, export, delete
#'
#' The researcher's side of DonationService with plain R arguments. They call the generated
#' \code{\link{donation_create_donation}}, \code{\link{donation_list_donations}},
#' \code{\link{donation_get_donation}}, \code{\link{query_donation_data}},
#' \code{\link{donation_export_donation_data}} and \code{\link{donation_delete_donation}}, walking every page.
#'
#' \code{export_donation_data} and \code{donation_data} (without \code{page_size}) read the server-streaming
#' RPC ExportDonationData over the client's gRPC-web transport: curl hands each response frame over as it
#' arrives, so the batches (up to 1,000 rows each, as JSON texts parsed by jsonlite) are read while the server
#' sends them, with no paging. The whole donation ends up in the \code{data.frame}, so memory grows with it.
#'
#' @details Errors are conditions of class \code{steward_error}: \code{steward_not_found} for a donation that
#' does not exist or that the caller may not view, \code{steward_permission_denied} for deleting one the caller
#' may only view or filing under a dataset the caller cannot edit, \code{steward_invalid_argument} for unknown
#' data types, bad dates, an end before the start or an empty \code{data_type} (\code{export_donation_data}:
#' also a data type the donation's source does not have). Arguments of the wrong shape are
#' plain errors raised before anything is sent.
#'
#' @param client a client from \code{\link{steward_client}}.
#' @param source \code{"google_portability"} or \code{"tiktok_portability"} (or the enum value name,
#'   e.g. \code{"DONATION_SOURCE_TIKTOK_PORTABILITY"}).
#' @param data_start_date,data_end_date the study window: a \code{Date} or \code{"YYYY-MM-DD"}; the end day is
#'   included; \code{NULL} for no bound.
#' @param requested_data_types a character vector of the source's data types (e.g. \code{c("search",
#'   "youtube_history")}); \code{NULL} asks for all of them.
#' @param dataset \code{create_donation}: the dataset (study) to file the donation under (needs \code{edit} on
#'   it); \code{list_donations}: only that dataset's donations.
#' @param description plain text (at most 2,000 characters) shown to the participant.
#' @param request_id makes repeating the call safe: the same id within 24 hours returns the same donation (with a
#'   new link while the old one was not opened). \code{NULL} makes a fresh one per call.
#' @param id a donation id (as R reads int64 ids, a string such as \code{"42"}, or a whole number) or a
#'   \code{steward.donation.v1.Donation} message.
#' @param data_type the data type whose rows to read, e.g. \code{"search"}; for \code{export_donation_data},
#'   \code{NULL} reads every available type.
#' @param start_date,end_date only rows from the start of this day / through the end of this day (UTC): a
#'   \code{Date} or \code{"YYYY-MM-DD"}.
#' @param page_size donations or rows per call while walking the pages. For \code{donation_data},
#'   \code{NULL} (the default) reads every row in one ExportDonationData stream instead of pages.
#' @param progress \code{export_donation_data}: report the rows received so far (a message line rewritten as
#'   batches arrive); by default only in an interactive session.
#' @param .timeout seconds each call may take; \code{NULL} uses the client's timeout. For the
#'   ExportDonationData stream (\code{export_donation_data}, \code{donation_data} without \code{page_size})
#'   it is the deadline of the whole stream, and \code{NULL} sets none.
#' @return \code{create_donation}: a \code{steward.donation.v1.CreateDonationResponse} message with
#' \code{$donation}, \code{$donation_url} (the link to send to the participant, shown only this once) and
#' \code{$token}.
#'
#' \code{list_donations}: a list of \code{steward.donation.v1.Donation} messages (every page), by id.
#'
#' \code{get_donation}: a \code{Donation} message: \code{$id} (a string), \code{$status} and \code{$stage}
#' (numbers of \code{steward.donation.v1.DonationStatus} / \code{DonationStage}), \code{$data_types} (each
#' type's state and rows), \code{$error}, \ldots
#'
#' \code{donation_data}: a \code{data.frame} with one row per donated record, oldest first (rows without a
#' timestamp last), and one column per row key in the order Steward stores them: \code{data_type},
#' \code{device_id}, \code{timestamp}, \code{platform} first, then the type's own keys. Columns of timestamps
#' are \code{POSIXct} in UTC, columns of booleans logical, the rest character (ids too), with \code{NA} where a
#' record has no value. A type without rows (not available yet, unknown, or empty) gives a \code{data.frame}
#' with no rows and no columns.
#'
#' \code{export_donation_data}: the same kind of \code{data.frame} for every available type of the donation
#' (or one): the types one after the other in catalogue order, each oldest first; the columns are the union of
#' the types' keys, first seen first, \code{NA} where a type has no such key.
#'
#' \code{delete_donation}: invisibly \code{NULL}; the rows become unreadable at once.
#' @seealso \code{\link{steward_client}}, \code{\link{list_donation_data_types}}
#' @examples
#' \dontrun{
#' client <- steward_client("http://127.0.0.1:8080", token = Sys.getenv("STEWARD_TOKEN"))
#' made <- create_donation(client, "google_portability", data_start_date = "2024-01-01",
#'   requested_data_types = c("search", "youtube_history"))
#' made$donation_url
#' get_donation(client, made$donation$id)$status
#' rows <- donation_data(client, made$donation$id, "search")
#' everything <- export_donation_data(client, made$donation$id)
#' delete_donation(client, made$donation$id)
#' }
#' @name donations
NULL

# Compat spellings of the sources (portability-server's `source_type`) -> enum value names.
donation_sources <- c(
  google_portability = "DONATION_SOURCE_GOOGLE_PORTABILITY",
  tiktok_portability = "DONATION_SOURCE_TIKTOK_PORTABILITY"
)
# Row keys every data type has (spec donation.md §4.3.3), in the documented order.
donation_common_keys <- c("data_type", "device_id", "timestamp", "platform")
# How Steward writes row timestamps: RFC 3339 UTC, e.g. 2024-01-15T10:00:00.000Z.
donation_timestamp_pattern <- "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z$"

#' @rdname donations
#' @export
create_donation <- function(client, source = "google_portability", data_start_date = NULL, data_end_date = NULL,
                            requested_data_types = NULL, dataset = NULL, description = NULL, request_id = NULL,
                            .timeout = NULL) {
  if (!is.null(requested_data_types) &&
    (!is.character(requested_data_types) || anyNA(requested_data_types))) {
    stop("requested_data_types must be a character vector of data type names, or NULL for all", call. = FALSE)
  }
  optional_string(dataset, "dataset")
  optional_string(description, "description")
  optional_string(request_id, "request_id")
  # A fresh request_id per call: repeating a create after a lost answer
  # returns the same donation instead of making a second one.
  if (is.null(request_id)) request_id <- random_uuid()
  donation_create_donation(client,
    source = donation_source(source),
    data_start_date = donation_date(data_start_date, "data_start_date"),
    data_end_date = donation_date(data_end_date, "data_end_date"),
    requested_data_types = requested_data_types,
    dataset = dataset, description = description, request_id = request_id,
    .timeout = .timeout
  )
}

#' @rdname donations
#' @export
list_donations <- function(client, dataset = NULL, page_size = 1000L, .timeout = NULL) {
  optional_string(dataset, "dataset")
  page_size <- donation_page_size(page_size, 1000L)
  donations <- list()
  token <- NULL
  repeat {
    page <- donation_list_donations(client, page_size = page_size, page_token = token, dataset = dataset,
      .timeout = .timeout)
    donations <- c(donations, page$donations)
    token <- page$next_page_token
    if (!nzchar(token)) return(donations)
  }
}

#' @rdname donations
#' @export
get_donation <- function(client, id, .timeout = NULL) {
  donation_get_donation(client, donation_id = donation_id(id), .timeout = .timeout)$donation
}

#' @rdname donations
#' @export
delete_donation <- function(client, id, .timeout = NULL) {
  donation_delete_donation(client, donation_id = donation_id(id), .timeout = .timeout)
  invisible(NULL)
}

#' @rdname donations
#' @export
donation_data <- function(client, id, data_type, start_date = NULL, end_date = NULL, page_size = NULL,
                          .timeout = NULL) {
  if (!is.character(data_type) || length(data_type) != 1L || is.na(data_type)) {
    stop("data_type must be one data type name (a string)", call. = FALSE)
  }
  id <- donation_id(id)
  if (!is.null(page_size)) page_size <- donation_page_size(page_size, NA_integer_)
  start_date <- donation_date(start_date, "start_date")
  end_date <- donation_date(end_date, "end_date")
  if (is.null(page_size) && nzchar(data_type)) {
    # Every row in one ExportDonationData stream. QueryDonationData answers
    # no rows for a type the source does not have (portability-server's
    # behaviour); Export refuses it, naming the field first.
    return(tryCatch(
      donation_export_frame(client, id, data_type, start_date, end_date, .timeout),
      steward_invalid_argument = function(e) {
        if (startsWith(e$grpc_message, "data_type:")) data.frame() else stop(e)
      }
    ))
  }
  # With page_size, page by page; an empty data_type goes to QueryDonationData too, which refuses it.
  rows <- list()
  token <- NULL
  repeat {
    page <- query_donation_data(client, donation_id = id, data_type = data_type, start_date = start_date,
      end_date = end_date, page_size = page_size, page_token = token, row_format = "ROW_FORMAT_JSON",
      .timeout = .timeout)
    rows <- c(rows, donation_page_rows(page))
    token <- page$next_page_token
    if (!nzchar(token)) return(donation_rows_frame(rows))
  }
}

#' @rdname donations
#' @export
export_donation_data <- function(client, id, data_type = NULL, start_date = NULL, end_date = NULL,
                                 progress = interactive(), .timeout = NULL) {
  if (!is.null(data_type) && (!is.character(data_type) || length(data_type) != 1L || is.na(data_type))) {
    stop("data_type must be one data type name (a string), or NULL for every type", call. = FALSE)
  }
  if (!is.logical(progress) || length(progress) != 1L || is.na(progress)) {
    stop("progress must be TRUE or FALSE", call. = FALSE)
  }
  donation_export_frame(client, donation_id(id), data_type, donation_date(start_date, "start_date"),
    donation_date(end_date, "end_date"), .timeout, progress = progress)
}

# ExportDonationData (JSON rows) streamed over gRPC-web into a data.frame:
# each batch's rows are parsed by jsonlite as it arrives; the columns are
# built once at the end.
donation_export_frame <- function(client, id, data_type, start_date, end_date, .timeout, progress = FALSE) {
  batches <- list()
  received <- 0
  on_batch <- function(batch) {
    rows <- donation_page_rows(batch)
    batches[[length(batches) + 1L]] <<- rows
    received <<- received + length(rows)
    if (progress) message(sprintf("\rdonation %s: %s rows", id, format(received, big.mark = ",")), appendLF = FALSE)
    TRUE
  }
  donation_export_donation_data(client, donation_id = id, data_type = data_type, start_date = start_date,
    end_date = end_date, row_format = "ROW_FORMAT_JSON", .callback = on_batch, .timeout = .timeout)
  if (progress) message("")
  donation_rows_frame(unlist(batches, recursive = FALSE, use.names = FALSE))
}

# A page's rows as named lists. Asked for as JSON texts (ROW_FORMAT_JSON),
# parsed by jsonlite in one call; a server that predates that option sends
# Structs, read through the message's proto3 JSON.
donation_page_rows <- function(page) {
  json_rows <- page$json_rows
  if (length(json_rows) > 0L) {
    json <- paste0("[", paste(json_rows, collapse = ","), "]")
    Encoding(json) <- "UTF-8"
    return(jsonlite::fromJSON(json, simplifyVector = FALSE))
  }
  if (length(page$rows) == 0L) return(list())
  json <- RProtoBuf::toJSON(page)
  Encoding(json) <- "UTF-8"
  # A Struct keeps no key order: the common keys first, then the rest by name.
  lapply(jsonlite::fromJSON(json, simplifyVector = FALSE)$rows, function(row) {
    keys <- names(row)
    row[c(intersect(donation_common_keys, keys), sort(setdiff(keys, donation_common_keys), method = "radix"))]
  })
}

# Rows (named lists of strings, logicals, numbers and NULLs) as a data.frame:
# one column per key, in the order the keys first appear (as Steward stores them);
# all-timestamp columns POSIXct in UTC, all-logical ones logical, numbers
# numeric, the rest character; NA where a row has no value.
donation_rows_frame <- function(rows) {
  keys <- unique(unlist(lapply(rows, names), use.names = FALSE))
  if (is.null(keys)) keys <- character()
  columns <- lapply(stats::setNames(keys, keys), function(key) {
    values <- lapply(rows, function(row) row[[key]])
    present <- values[!vapply(values, is.null, logical(1))]
    if (length(present) > 0L && all(vapply(present, is.logical, logical(1)))) {
      return(vapply(values, function(v) if (is.null(v)) NA else v, logical(1)))
    }
    if (length(present) > 0L && all(vapply(present, is.numeric, logical(1)))) {
      return(vapply(values, function(v) if (is.null(v)) NA_real_ else as.numeric(v), numeric(1)))
    }
    text <- vapply(values, function(v) {
      if (is.null(v)) NA_character_ else if (is.character(v) && length(v) == 1L) v else
        as.character(jsonlite::toJSON(v, auto_unbox = TRUE))
    }, character(1))
    if (length(present) > 0L && all(grepl(donation_timestamp_pattern, text[!is.na(text)]))) {
      return(as.POSIXct(text, tz = "UTC", format = "%Y-%m-%dT%H:%M:%OSZ"))
    }
    text
  })
  frame <- as.data.frame(columns, stringsAsFactors = FALSE, optional = TRUE)
  if (length(keys) == 0L) frame <- data.frame()
  frame
}

donation_source <- function(source) {
  if (!is.character(source) || length(source) != 1L || is.na(source)) {
    stop("source must be one of \"google_portability\", \"tiktok_portability\"", call. = FALSE)
  }
  if (source %in% names(donation_sources)) return(donation_sources[[source]])
  if (source %in% donation_sources) return(source)
  stop(sprintf("unknown source \"%s\": use one of \"google_portability\", \"tiktok_portability\"", source),
    call. = FALSE)
}

# NULL (no bound), a Date, or "YYYY-MM-DD" -> the request's string.
donation_date <- function(value, name) {
  if (is.null(value)) return(NULL)
  if (length(value) != 1L || is.na(value)) stop(name, " must be one date", call. = FALSE)
  if (inherits(value, "POSIXt")) {
    stop(name, " must be a Date or a \"YYYY-MM-DD\" string, not a date-time", call. = FALSE)
  }
  if (inherits(value, "Date")) return(format(value, "%Y-%m-%d"))
  if (!is.character(value) || !grepl("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", value)) {
    stop(name, " must be a Date or a \"YYYY-MM-DD\" string", call. = FALSE)
  }
  value
}

# A donation id as the request's int64: a Donation message's id, a string of
# digits (how R reads int64 ids), or a whole number.
donation_id <- function(id) {
  if (methods::is(id, "Message")) {
    if (RProtoBuf::name(RProtoBuf::descriptor(id), full = TRUE) != "steward.donation.v1.Donation") {
      stop("id must be a donation id or a steward.donation.v1.Donation message", call. = FALSE)
    }
    id <- id$id
  }
  if (length(id) != 1L || is.na(id)) stop("id must be one donation id", call. = FALSE)
  if (is.numeric(id)) {
    if (id != trunc(id) || id < 1 || id > 2^53) stop("id must be a positive whole number", call. = FALSE)
    return(format(id, scientific = FALSE))
  }
  if (!is.character(id) || !grepl("^[1-9][0-9]{0,18}$", id)) {
    stop("id must be a positive whole number, e.g. \"42\"", call. = FALSE)
  }
  id
}

donation_page_size <- function(value, most) {
  ok <- is.numeric(value) && length(value) == 1L && !is.na(value) && value == trunc(value) && value >= 1 &&
    (is.na(most) || value <= most)
  if (!ok) {
    stop("page_size must be ", if (is.na(most)) "a positive whole number" else paste("1 to", most), call. = FALSE)
  }
  as.integer(value)
}

# A version 4 UUID from the system's random source, without touching R's own
# random number stream (a script that calls set.seed() must not get the same
# request_id twice, which would return an earlier donation).
random_uuid <- function() {
  bytes <- if (file.exists("/dev/urandom")) {
    source <- file("/dev/urandom", open = "rb", raw = TRUE)
    on.exit(close(source))
    readBin(source, "raw", 16L)
  } else {
    seed <- if (exists(".Random.seed", envir = globalenv())) get(".Random.seed", envir = globalenv())
    on.exit(if (is.null(seed)) rm(".Random.seed", envir = globalenv()) else assign(".Random.seed", seed, envir = globalenv()))
    set.seed(as.integer((as.numeric(Sys.time()) * 1e6 + Sys.getpid()) %% .Machine$integer.max))
    as.raw(sample.int(256L, 16L, replace = TRUE) - 1L)
  }
  bytes[7L] <- as.raw(bitwOr(bitwAnd(as.integer(bytes[7L]), 0x0fL), 0x40L))
  bytes[9L] <- as.raw(bitwOr(bitwAnd(as.integer(bytes[9L]), 0x3fL), 0x80L))
  hex <- paste(format(as.hexmode(as.integer(bytes)), width = 2L), collapse = "")
  paste(substring(hex, c(1L, 9L, 13L, 17L, 21L), c(8L, 12L, 16L, 20L, 32L)), collapse = "-")
}
