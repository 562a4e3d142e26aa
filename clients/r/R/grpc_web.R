# gRPC-web over HTTP/1.1 with curl: request framing, reading response frames
# and trailers, the unary and server-streaming calls the generated functions
# (R/rpc.R) make, and turning every failure into a `steward_error` condition.
#
# Wire format (binary gRPC-web): POST with content-type
# application/grpc-web+proto; the body and the response are frames of a flag
# byte, a 4-byte big-endian length and a payload. Flag 0x00 carries a
# message, flag 0x80 the trailers ("grpc-status: 0\r\ngrpc-message: ...").
# An error may come "trailers-only": grpc-status in the HTTP headers and no
# body.

.grpc_web_type <- "application/grpc-web+proto"

# One message frame around a serialized message.
grpc_web_frame <- function(payload) {
  n <- length(payload)
  size <- c(n %/% 16777216, (n %/% 65536) %% 256, (n %/% 256) %% 256, n %% 256)
  c(as.raw(0L), as.raw(size), payload)
}

# An incremental frame reader: push() the bytes as they arrive and get the
# complete frames back (list of flag + payload); a frame may span many pushes.
grpc_web_reader <- function() {
  buffer <- raw(0)
  push <- function(bytes) {
    buffer <<- c(buffer, bytes)
    frames <- list()
    while (length(buffer) >= 5L) {
      n <- sum(as.integer(buffer[2:5]) * c(16777216, 65536, 256, 1))
      if (length(buffer) < 5 + n) break
      payload <- if (n > 0) buffer[6:(5 + n)] else raw(0)
      frames[[length(frames) + 1L]] <- list(flag = as.integer(buffer[1L]), payload = payload)
      buffer <<- buffer[-seq_len(5 + n)]
    }
    frames
  }
  list(push = push, pending = function() length(buffer))
}

# Trailer-frame text -> named list (lower-case keys).
grpc_web_trailers <- function(payload) {
  lines <- strsplit(rawToChar(payload), "\r?\n")[[1]]
  lines <- lines[grepl(":", lines, fixed = TRUE)]
  keys <- tolower(trimws(sub(":.*$", "", lines)))
  values <- as.list(trimws(sub("^[^:]*:", "", lines)))
  stats::setNames(values, keys)
}

# The final status of a call from what came back; NULL when the call succeeded.
# `trailers` is the parsed trailer frame (NULL if none arrived).
grpc_web_outcome <- function(client, path, http_status, headers, trailers, body_is_grpc, body) {
  url <- paste0(client$url, path)
  status <- headers[["grpc-status"]] %||% trailers[["grpc-status"]]
  if (!is.null(status)) {
    text <- headers[["grpc-message"]] %||% trailers[["grpc-message"]] %||% ""
    # tonic (and every gRPC server) percent-encodes grpc-message.
    text <- curl::curl_unescape(text)
    code <- suppressWarnings(as.integer(status))
    if (is.na(code)) {
      return(steward_condition(2L, sprintf("invalid grpc-status %s from %s", status, url), client, path))
    }
    if (code == 0L) return(NULL)
    return(steward_condition(code, text, client, path))
  }
  if (http_status != 200L) {
    snippet <- if (length(body)) substr(rawToChar(body[seq_len(min(length(body), 200L))]), 1L, 200L) else ""
    text <- sprintf("HTTP %d from %s%s", http_status, url, if (nzchar(snippet)) paste0(": ", snippet) else "")
    return(steward_condition(http_to_grpc_status(http_status), text, client, path))
  }
  if (!body_is_grpc) {
    type <- headers[["content-type"]] %||% "none"
    text <- sprintf("%s answered with content-type %s, not gRPC-web: is this a Steward server?", url, type)
    return(steward_condition(2L, text, client, path))
  }
  steward_condition(13L, sprintf("the response from %s ended without a gRPC status (cut off?)", url), client, path)
}

# gRPC's mapping of HTTP status codes for responses that carry no grpc-status
# (a proxy's error page, for instance).
http_to_grpc_status <- function(http_status) {
  switch(as.character(http_status),
    "400" = 13L, "401" = 16L, "403" = 7L, "404" = 12L,
    "429" = 14L, "502" = 14L, "503" = 14L, "504" = 14L,
    2L
  )
}

steward_request_headers <- function(client, timeout) {
  headers <- c(
    "content-type" = .grpc_web_type,
    "accept" = .grpc_web_type,
    "x-grpc-web" = "1",
    "x-user-agent" = "steward-r"
  )
  if (!is.null(client$token)) headers[["authorization"]] <- paste("Bearer", client$token)
  # Let the server give up too, rather than work for a caller that has left.
  if (!is.null(timeout) && is.finite(timeout)) {
    headers[["grpc-timeout"]] <- paste0(max(1, ceiling(timeout * 1000)), "m")
  }
  headers
}

steward_handle <- function(client, path, request_type, fields, timeout) {
  steward_load_protos()
  body <- grpc_web_frame(RProtoBuf::serialize(steward_message(request_type, fields), NULL))
  handle <- curl::new_handle()
  curl::handle_setheaders(handle, .list = as.list(steward_request_headers(client, timeout)))
  curl::handle_setopt(handle,
    post = TRUE, postfields = body, connecttimeout = 10,
    useragent = paste0("steward-r/", utils::packageVersion("steward"))
  )
  if (!is.null(timeout) && is.finite(timeout)) {
    curl::handle_setopt(handle, timeout_ms = max(1, ceiling(timeout * 1000)))
  }
  handle
}

# curl failed before a gRPC status arrived: the server is unreachable, or the
# deadline passed.
steward_transport_error <- function(error, client, path, timeout) {
  text <- conditionMessage(error)
  if (grepl("Operation timed out|Timeout was reached", text) && !grepl("Connection timed out|connect", text)) {
    stop(steward_condition(4L,
      sprintf("no answer from %s within %s s (%s)", paste0(client$url, path), format(timeout), text),
      client, path
    ))
  }
  stop(steward_condition(14L, sprintf("cannot reach Steward at %s: %s", client$url, text), client, path))
}

# A unary call: one request message, one response message.
steward_unary <- function(client, path, request_type, response_type, fields, .timeout = NULL) {
  check_client(client)
  timeout <- .timeout %||% client$timeout
  handle <- steward_handle(client, path, request_type, fields, timeout)
  response <- tryCatch(
    curl::curl_fetch_memory(paste0(client$url, path), handle),
    error = function(e) steward_transport_error(e, client, path, timeout)
  )
  headers <- curl::parse_headers_list(response$headers)
  is_grpc <- response$status_code == 200L && startsWith(response$type %||% "", "application/grpc-web")
  messages <- list()
  trailers <- NULL
  if (is_grpc) {
    reader <- grpc_web_reader()
    for (frame in reader$push(response$content)) {
      if (bitwAnd(frame$flag, 0x80L) != 0L) {
        trailers <- grpc_web_trailers(frame$payload)
      } else {
        messages[[length(messages) + 1L]] <- frame$payload
      }
    }
  }
  failure <- grpc_web_outcome(client, path, response$status_code, headers, trailers, is_grpc, response$content)
  if (!is.null(failure)) stop(failure)
  if (length(messages) != 1L) {
    stop(steward_condition(13L,
      sprintf("%s sent %d messages for a unary call", paste0(client$url, path), length(messages)),
      client, path
    ))
  }
  RProtoBuf::read(RProtoBuf::P(response_type), messages[[1L]])
}

# A server-streaming call: one request, messages as the server sends them.
# Without a callback they are collected and returned when the stream ends;
# with one, each is handed over on arrival and FALSE from it ends the stream.
steward_server_stream <- function(client, path, request_type, response_type, fields,
                                  .callback = NULL, .timeout = NULL) {
  check_client(client)
  if (!is.null(.callback) && !is.function(.callback)) stop(".callback must be a function or NULL", call. = FALSE)
  handle <- steward_handle(client, path, request_type, fields, .timeout)
  descriptor <- RProtoBuf::P(response_type)
  reader <- grpc_web_reader()
  collected <- list()
  count <- 0L
  trailers <- NULL
  is_grpc <- NA
  other <- raw(0)
  in_callback <- FALSE
  stopped <- FALSE

  on_data <- function(bytes) {
    if (is.na(is_grpc)) {
      info <- curl::handle_data(handle)
      is_grpc <<- info$status_code == 200L && startsWith(info$type %||% "", "application/grpc-web")
    }
    if (!is_grpc) {
      if (length(other) < 4096L) other <<- c(other, bytes)
      return(invisible())
    }
    for (frame in reader$push(bytes)) {
      if (bitwAnd(frame$flag, 0x80L) != 0L) {
        trailers <<- grpc_web_trailers(frame$payload)
        next
      }
      message <- RProtoBuf::read(descriptor, frame$payload)
      count <<- count + 1L
      if (is.null(.callback)) {
        collected[[count]] <<- message
      } else {
        in_callback <<- TRUE
        keep_going <- .callback(message)
        in_callback <<- FALSE
        if (isFALSE(keep_going)) {
          stop(structure(class = c("steward_stream_end", "condition"), list(message = "stream ended by callback", call = NULL)))
        }
      }
    }
  }

  info <- tryCatch(
    curl::curl_fetch_stream(paste0(client$url, path), on_data, handle),
    steward_stream_end = function(e) {
      stopped <<- TRUE
      NULL
    },
    error = function(e) {
      # The caller's own errors pass through untouched.
      if (in_callback) stop(e)
      steward_transport_error(e, client, path, .timeout)
    }
  )
  if (!stopped) {
    info <- info %||% curl::handle_data(handle)
    if (is.na(is_grpc)) is_grpc <- info$status_code == 200L && startsWith(info$type %||% "", "application/grpc-web")
    headers <- curl::parse_headers_list(info$headers)
    failure <- grpc_web_outcome(client, path, info$status_code, headers, trailers, is_grpc, other)
    if (!is.null(failure)) stop(failure)
  }
  if (is.null(.callback)) collected else invisible(count)
}

check_client <- function(client) {
  if (!inherits(client, "steward_client")) {
    stop("the first argument must be a client from steward_client(url, token)", call. = FALSE)
  }
}

`%||%` <- function(a, b) if (is.null(a)) b else a
