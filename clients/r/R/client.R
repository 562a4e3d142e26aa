# The client object, loading the .proto files the package carries into
# RProtoBuf, and building request messages from the generated functions'
# arguments.

steward_state <- new.env(parent = emptyenv())

#' A client for a Steward server
#'
#' Steward's RPCs are called over gRPC-web (binary, HTTP/1.1) with \pkg{curl}; messages are
#' \pkg{RProtoBuf} messages built from the \code{.proto} files the package carries
#' (\code{system.file("proto", package = "steward")}). The well-known types they import
#' come from the system (Debian: \code{libprotobuf-dev}).
#'
#' @section One function per RPC:
#' Generated from the server's descriptor set by \code{clients/r/generate}. An RPC of a
#' \code{steward.*} service is its name in snake_case (\code{WhoAmI} becomes
#' \code{\link{who_am_i}}); an RPC of another service is prefixed with that service's name
#' (\code{grpc.health.v1.Health/Check} becomes \code{\link{health_check}}), as is a name two
#' services share or one that would mask a base R function.
#'
#' Request fields are arguments (\code{NULL} leaves a field unset; a message field takes a
#' message or a named list). A unary function returns the response message; a
#' server-streaming one returns the list of messages when the stream ends, or with
#' \code{.callback} hands over each message as it arrives (return \code{FALSE} to stop).
#' Read fields with \code{$} (\code{me$email}); enum fields read as numbers; 64-bit
#' integers read as character strings so ids stay exact (loading the package sets
#' \code{options(RProtoBuf.int64AsString = TRUE)}; set it back to \code{FALSE} afterwards
#' for doubles).
#'
#' @section Errors:
#' A failed call raises a condition of class \code{steward_error} and of a class per
#' status, \code{steward_<status in lower case>} (\code{steward_unauthenticated},
#' \code{steward_not_found}, \code{steward_unavailable}, ...). It carries \code{status}
#' (the code, named: \code{c(UNAUTHENTICATED = 16L)}), \code{code} (the name),
#' \code{grpc_message} (the server's explanation), \code{method} and \code{url}. An
#' unreachable server is \code{UNAVAILABLE} with a message naming the address; a call
#' that outlives its timeout is \code{DEADLINE_EXCEEDED}. \code{steward_status_codes}
#' lists the codes by name.
#'
#' @param url the server's address, e.g. \code{"http://127.0.0.1:8080"} (Steward itself) or an
#'   Envoy in front of it; a path prefix is kept.
#' @param token an API token (\code{steward token create}), sent as
#'   \code{authorization: Bearer <token>}; \code{NULL} calls without credentials.
#' @param timeout seconds a unary call may take before it fails with \code{DEADLINE_EXCEEDED}
#'   (\code{Inf} for none). Server-streaming calls have no deadline unless given \code{.timeout}.
#' @return A \code{steward_client} object to pass as the first argument of the RPC functions.
#'   Printing it never shows the token.
#' @aliases steward_error
#' @export
#' @examples
#' \dontrun{
#' client <- steward_client("http://127.0.0.1:8080", token = Sys.getenv("STEWARD_TOKEN"))
#' me <- who_am_i(client)
#' me$email
#' me$roles
#' tryCatch(who_am_i(steward_client("http://127.0.0.1:8080")),
#'   steward_unauthenticated = function(e) message("sign in first: ", e$grpc_message))
#' }
steward_client <- function(url, token = NULL, timeout = 60) {
  if (!is.character(url) || length(url) != 1L || !grepl("^https?://[^/]", url)) {
    stop("url must be one http:// or https:// address, e.g. \"http://127.0.0.1:8080\"", call. = FALSE)
  }
  if (!is.null(token) && (!is.character(token) || length(token) != 1L || !nzchar(token))) {
    stop("token must be one non-empty string, or NULL to call without credentials", call. = FALSE)
  }
  if (!is.numeric(timeout) || length(timeout) != 1L || !(timeout > 0)) {
    stop("timeout must be a positive number of seconds (Inf for none)", call. = FALSE)
  }
  steward_load_protos()
  structure(list(url = sub("/+$", "", url), token = token, timeout = timeout), class = "steward_client")
}

#' @rdname steward_client
#' @param x a \code{steward_client}.
#' @param ... not used.
#' @export
print.steward_client <- function(x, ...) {
  # Never print the token: consoles end up in logs and screenshots.
  cat(sprintf("<steward_client %s, %s>\n", x$url, if (is.null(x$token)) "no token" else "token set"))
  invisible(x)
}

.onLoad <- function(libname, pkgname) {
  # Exact 64-bit integers (ids): RProtoBuf reads int64 as a double, which
  # silently rounds above 2^53, unless this option is TRUE. RProtoBuf sets it
  # to FALSE when it loads, so load it first; a caller who wants doubles sets
  # it back after library(steward).
  loadNamespace("RProtoBuf")
  options(RProtoBuf.int64AsString = TRUE)
}

# The well-known types (google/protobuf/*.proto) the carried protos import:
# from libprotobuf-dev, or wherever options(steward.protobuf_include=) says.
protobuf_include_dir <- function() {
  candidates <- c(getOption("steward.protobuf_include"), "/usr/include", "/usr/local/include", "/opt/homebrew/include")
  for (dir in candidates) {
    if (file.exists(file.path(dir, "google", "protobuf", "descriptor.proto"))) return(dir)
  }
  stop("google/protobuf/descriptor.proto not found in ", paste(candidates, collapse = ", "),
    ": install libprotobuf-dev (Debian/Ubuntu) or protobuf (Homebrew), ",
    "or set options(steward.protobuf_include = \"<dir>\")",
    call. = FALSE
  )
}

# Loads the package's protos into RProtoBuf's descriptor pool, once a session.
steward_load_protos <- function() {
  if (isTRUE(steward_state$loaded)) return(invisible())
  proto_dir <- system.file("proto", package = "steward", mustWork = TRUE)
  RProtoBuf::readProtoFiles2(files = .steward_proto_files, protoPath = c(proto_dir, protobuf_include_dir()))
  steward_state$loaded <- TRUE
  invisible()
}

# A request message of `type` (a full name or a Descriptor) from the generated
# function's arguments: NULL leaves a field unset; a message field takes a
# message or a named list of its fields; a map field a named list or vector.
steward_message <- function(type, fields) {
  descriptor <- if (is.character(type)) RProtoBuf::P(type) else type
  type <- RProtoBuf::name(descriptor, full = TRUE)
  message <- RProtoBuf::new(descriptor)
  for (name in names(fields)) {
    value <- fields[[name]]
    if (is.null(value)) next
    field <- descriptor[[name]]
    if (RProtoBuf::type(field) == RProtoBuf::TYPE_MESSAGE && !methods::is(value, "Message")) {
      value <- message_field_value(field, value, name, type)
    }
    tryCatch(
      message[[name]] <- value,
      error = function(e) {
        stop(sprintf("argument %s (field of %s): %s", name, type, conditionMessage(e)), call. = FALSE)
      }
    )
  }
  message
}

# Nested messages are built from the field's own descriptor, not looked up by
# name: RProtoBuf has a second, built-in copy of the well-known types
# (google.protobuf.Timestamp, ...) that the loaded files' fields do not accept.
message_field_value <- function(field, value, name, type) {
  target <- RProtoBuf::message_type(field)
  if (!RProtoBuf::is_repeated(field)) {
    if (!is.list(value)) {
      stop(sprintf("argument %s (field of %s) must be a %s message or a named list",
        name, type, RProtoBuf::name(target, full = TRUE)), call. = FALSE)
    }
    return(steward_message(target, value))
  }
  if (is_map_entry(target) && !is.null(names(value))) {
    return(lapply(seq_along(value), function(i) {
      steward_message(target, list(key = names(value)[[i]], value = value[[i]]))
    }))
  }
  lapply(value, function(item) if (methods::is(item, "Message")) item else steward_message(target, item))
}

# protoc names a map's entry type <Field>Entry with exactly `key` and `value`.
is_map_entry <- function(descriptor) {
  grepl("Entry$", RProtoBuf::name(descriptor)) && RProtoBuf::field_count(descriptor) == 2L &&
    !is.null(tryCatch(descriptor[["key"]], error = function(e) NULL)) &&
    !is.null(tryCatch(descriptor[["value"]], error = function(e) NULL))
}
