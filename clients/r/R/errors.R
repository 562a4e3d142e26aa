# Failed calls as R conditions: class `steward_error`, plus one class per gRPC
# status (`steward_unauthenticated`, `steward_not_found`, ...) so callers can
# catch exactly what they can act on with tryCatch().

# gRPC status codes by name (exported: compare with a condition's `status`).
#' @rdname steward_client
#' @format NULL
#' @docType NULL
#' @keywords NULL
#' @export
steward_status_codes <- c(
  OK = 0L, CANCELLED = 1L, UNKNOWN = 2L, INVALID_ARGUMENT = 3L,
  DEADLINE_EXCEEDED = 4L, NOT_FOUND = 5L, ALREADY_EXISTS = 6L,
  PERMISSION_DENIED = 7L, RESOURCE_EXHAUSTED = 8L, FAILED_PRECONDITION = 9L,
  ABORTED = 10L, OUT_OF_RANGE = 11L, UNIMPLEMENTED = 12L, INTERNAL = 13L,
  UNAVAILABLE = 14L, DATA_LOSS = 15L, UNAUTHENTICATED = 16L
)

# The condition for status `code` with the server's (or our) explanation.
# `status` is the code named by its status (c(UNAUTHENTICATED = 16L)); `code`
# the name alone; `grpc_message` the explanation without the status prefix.
steward_condition <- function(code, text, client, path) {
  code <- as.integer(code)
  name <- names(steward_status_codes)[match(code, steward_status_codes)]
  # gRPC: a code this client does not know is UNKNOWN.
  if (is.na(name)) name <- "UNKNOWN"
  structure(
    class = c(paste0("steward_", tolower(name)), "steward_error", "error", "condition"),
    list(
      message = if (nzchar(text)) paste0(name, ": ", text) else name,
      call = NULL,
      status = stats::setNames(code, name),
      code = name,
      grpc_message = text,
      method = path,
      url = client$url
    )
  )
}
