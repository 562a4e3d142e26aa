# The two DatasetGateway questions R scripts ask most, with plain arguments and
# the answer as R lists: user_cache() (what may I do?) and check_access() (may
# I do this?). They call the generated get_user_cache() and
# authorization_check_access(), whose google.api.HttpBody carries DSG's JSON.

user_cache <- function(client, service = NULL, .timeout = NULL) {
  optional_string(service, "service")
  dsg_json(get_user_cache(client, service = service, .timeout = .timeout))
}

check_access <- function(client, dataset, permission = "view", version = NULL, service = NULL, .timeout = NULL) {
  if (!is.character(dataset) || length(dataset) != 1L || is.na(dataset)) {
    stop("dataset must be one dataset name (a string)", call. = FALSE)
  }
  if (!is.character(permission) || length(permission) != 1L || is.na(permission)) {
    stop("permission must be one of \"view\", \"edit\", \"manage\", \"admin\"", call. = FALSE)
  }
  optional_string(version, "version")
  optional_string(service, "service")
  question <- list(dataset = dataset, permission = permission, version = version, service = service)
  question <- question[!vapply(question, is.null, logical(1))]
  body <- list(
    content_type = "application/json",
    data = charToRaw(enc2utf8(as.character(jsonlite::toJSON(question, auto_unbox = TRUE))))
  )
  dsg_json(authorization_check_access(client, body = body, .timeout = .timeout))
}

optional_string <- function(value, name) {
  if (!is.null(value) && (!is.character(value) || length(value) != 1L || is.na(value))) {
    stop(name, " must be one string, or NULL", call. = FALSE)
  }
}

# An HttpBody's JSON as R values: objects become named lists, arrays of
# scalars vectors (`permissions_v2$fish2` is c("edit", "view")), other arrays
# lists (`missing_tos`), `[]` an empty list; ids beyond 2^53 stay exact strings.
dsg_json <- function(body) {
  data <- body$data
  text <- if (is.raw(data)) rawToChar(data) else as.character(data)
  Encoding(text) <- "UTF-8"
  jsonlite::fromJSON(text, simplifyVector = TRUE, simplifyDataFrame = FALSE, simplifyMatrix = FALSE,
    bigint_as_char = TRUE)
}
