# Drop-offs (spec upload.md section 2): upload_file() sends a file into a
# drop-off with the chunk RPCs, resumably, and download_file_to() fetches a
# stored file for its owner with DownloadFile (a server stream, which the
# gRPC-web layer reads message by message), checking the SHA-256 Steward
# recorded. Both call the generated functions (R/rpc.R), so the token, timeout
# and steward_error conditions are those of every other call. The upload code
# never appears in a message or a progress bar.

#' Upload a file into a drop-off, resumably; download a stored file
#'
#' \code{upload_file} sends a file with \code{\link{create_upload}}, \code{\link{write_chunk}} (one call per
#' chunk) and \code{\link{finalize_upload}} with the file's SHA-256, then polls \code{\link{get_upload}} until
#' Steward has verified and sealed the file. The upload's \code{request_id} follows from the drop-off and the
#' file's absolute path, size and modification time, so calling \code{upload_file} again after an interruption
#' finds the same upload and sends only the bytes Steward has not committed (the offset \code{get_upload}
#' reports).
#'
#' \code{download_file_to} reads \code{\link{download_file}} (a server stream, one message of up to 1 MiB at a
#' time) into \code{.<name>.<file id>.part} next to \code{path}, continuing such a file left by an earlier
#' attempt from its end. Once all bytes are in and their SHA-256 is the one Steward recorded, the partial file
#' is renamed to \code{path}.
#'
#' @section Errors:
#' Refused calls raise \code{steward_error} conditions: a wrong code is \code{steward_permission_denied} ("the
#' upload code is not valid for this drop-off"); an unknown drop-off \code{steward_not_found}; a closed or
#' expired one \code{steward_failed_precondition}; a file too large or of a type not allowed
#' \code{steward_invalid_argument}; a used-up quota or too many wrong codes \code{steward_resource_exhausted}.
#' A file Steward received but did not keep (e.g. its SHA-256 did not match) raises a condition of class
#' \code{steward_upload_failed} with \code{$file} and \code{$failure_reason}; a download whose SHA-256 differs
#' raises \code{steward_checksum_mismatch} and removes the partial file.
#'
#' @param client a client from \code{\link{steward_client}}. Uploading needs no token (the code is the
#'   credential); downloading needs the token of someone who may view the drop-off.
#' @param path \code{upload_file}: the file to send, read in chunks and never whole; it must not change while it
#'   is sent. \code{download_file_to}: where to put the file (a file there is replaced).
#' @param dropoff the drop-off: its upload link (\code{https://.../upload/<id>}), its id, or a
#'   \code{steward.upload.v1.DropOff} message.
#' @param code the drop-off's upload code as the owner gave it (\code{"ABCDE-FGHJK"}; case, spaces and hyphens
#'   do not matter).
#' @param name the file name the owner sees; \code{NULL}: the file's own name.
#' @param content_type \code{type/subtype} of the file.
#' @param chunk_size bytes per \code{\link{write_chunk}} call, at most 4 MiB (4194304, the default).
#' @param progress show a text progress bar.
#' @param wait wait until Steward has verified and stored the file (\code{AVAILABLE}); \code{FALSE} returns
#'   once it is finalized (\code{PROCESSING}).
#' @param wait_timeout seconds to wait for that.
#' @param retries how often a chunk (or the download stream) is tried again after the server was unreachable,
#'   busy with another writer of the same upload, or too slow; each retry first asks Steward how far it got.
#' @param on_chunk \code{NULL}, or a function called as \code{on_chunk(start, end)} each time Steward has
#'   committed the bytes from \code{start} up to \code{end} (exclusive) in this run; an error raised in it stops
#'   the upload, which a later run resumes.
#' @param file_id the file's id, or its \code{steward.upload.v1.File} message.
#' @param .timeout seconds each call may take; \code{NULL} uses the client's timeout (for the download stream:
#'   no limit).
#' @return \code{upload_file}: the \code{steward.upload.v1.File} message: \code{$file_id}, \code{$name},
#' \code{$size}, \code{$sha256}, \code{$status} (3, \code{AVAILABLE}, or 2, \code{PROCESSING}, with
#' \code{wait = FALSE}), \ldots
#'
#' \code{download_file_to}: invisibly, the \code{File} message as \code{\link{get_file}} gave it.
#' @examples
#' \dontrun{
#' owner <- steward_client("https://steward.example.org", token = Sys.getenv("STEWARD_TOKEN"))
#' created <- create_drop_off(owner, dropoff = list(title = "Interview recordings"))
#' link <- created$dropoff$upload_url   # send the link and, by another channel, the code
#' code <- created$upload_code          # shown only this once
#'
#' uploader <- steward_client("https://steward.example.org")
#' file <- upload_file(uploader, "interviews.zip", link, code)   # interrupted? call it again
#'
#' download_file_to(owner, file$file_id, "interviews.zip")
#' }
#' @name uploads
NULL

# The largest WriteChunk Steward takes (spec upload.md section 2.5).
upload_max_chunk_bytes <- 4194304
# FileStatus numbers (steward.upload.v1.FileStatus).
upload_status <- c(
  UNSPECIFIED = 0L, UPLOADING = 1L, PROCESSING = 2L, AVAILABLE = 3L, EXTERNAL = 4L,
  FAILED = 5L, EXPIRED = 6L, TERMINATED = 7L, DELETED = 8L
)
# End states after which an upload takes no more bytes: a new run starts anew.
upload_tombstones <- upload_status[c("FAILED", "EXPIRED", "TERMINATED", "DELETED")]
upload_uuid_pattern <- "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

#' @rdname uploads
#' @export
upload_file <- function(client, path, dropoff, code, name = NULL, content_type = "application/octet-stream",
                        chunk_size = upload_max_chunk_bytes, progress = interactive(), wait = TRUE,
                        wait_timeout = 600, retries = 8L, on_chunk = NULL, .timeout = NULL) {
  check_client(client)
  if (!is.character(path) || length(path) != 1L || !file.exists(path) || dir.exists(path)) {
    stop("path must name one existing file", call. = FALSE)
  }
  if (!is.character(code) || length(code) != 1L || !nzchar(trimws(code))) {
    stop("code must be the drop-off's upload code, a string such as \"ABCDE-FGHJK\"", call. = FALSE)
  }
  if (!is.numeric(chunk_size) || length(chunk_size) != 1L || chunk_size < 1 || chunk_size > upload_max_chunk_bytes) {
    stop(sprintf("chunk_size must be 1 to %d bytes", upload_max_chunk_bytes), call. = FALSE)
  }
  if (!is.null(on_chunk) && !is.function(on_chunk)) stop("on_chunk must be a function or NULL", call. = FALSE)
  path <- normalizePath(path, mustWork = TRUE)
  dropoff_id <- upload_dropoff_id(dropoff)
  name <- name %||% basename(path)
  info <- file.info(path, extra_cols = FALSE)
  size <- as.numeric(info$size)
  mtime <- format(as.numeric(info$mtime), digits = 22)

  opened <- open_drop_off(client, dropoff_id = dropoff_id, upload_code = code, .timeout = .timeout)
  chunk <- min(chunk_size, as.numeric(opened$max_chunk_bytes) %||% upload_max_chunk_bytes)
  get <- function(id) get_upload(client, upload_id = id, upload_code = code, .timeout = .timeout)$file

  file <- NULL
  for (generation in 1:100) {
    key <- paste(dropoff_id, path, format(size, scientific = FALSE), mtime, generation, sep = "\n")
    request_id <- paste0("r-upload-", sha256_hex(charToRaw(enc2utf8(key))))
    created <- create_upload(client, dropoff_id = dropoff_id, upload_code = code, name = name, size = size,
      content_type = content_type, request_id = request_id, .timeout = .timeout)
    file <- get(created$upload_id)
    if (!(file$status %in% upload_tombstones)) break
  }
  if (file$status %in% upload_tombstones) {
    stop(sprintf("%s: 100 earlier uploads of this file ended without it; rename or touch it", path), call. = FALSE)
  }

  if (file$status == upload_status[["UPLOADING"]]) {
    id <- file$file_id
    offset <- as.numeric(file$offset)
    con <- file(path, "rb")
    on.exit(close(con), add = TRUE)
    bar <- if (isTRUE(progress)) utils::txtProgressBar(min = 0, max = max(size, 1), initial = offset, style = 3) else NULL
    if (!is.null(bar)) on.exit(close(bar), add = TRUE)
    failures <- 0L
    while (offset < size) {
      seek(con, offset, rw = "read")
      data <- readBin(con, "raw", n = min(chunk, size - offset))
      if (length(data) == 0L) stop(sprintf("%s became shorter while it was uploaded", path), call. = FALSE)
      committed <- tryCatch(
        {
          reply <- write_chunk(client, upload_id = id, upload_code = code, offset = offset, data = data,
            .timeout = .timeout)
          failures <- 0L
          as.numeric(reply$offset)
        },
        # ABORTED: another writer held the upload, or the server is at another
        # offset; UNAVAILABLE / DEADLINE_EXCEEDED: the chunk may or may not be
        # in. Each time, ask Steward where the upload stands and go on from there.
        steward_aborted = function(e) upload_retry(e, failures <<- failures + 1L, retries, id, get),
        steward_unavailable = function(e) upload_retry(e, failures <<- failures + 1L, retries, id, get),
        steward_deadline_exceeded = function(e) upload_retry(e, failures <<- failures + 1L, retries, id, get)
      )
      if (committed > offset && !is.null(on_chunk)) on_chunk(offset, committed)
      offset <- committed
      if (!is.null(bar)) utils::setTxtProgressBar(bar, offset)
    }
    if (!identical(file.info(path, extra_cols = FALSE)$mtime, info$mtime) ||
      file.info(path, extra_cols = FALSE)$size != info$size) {
      stop(sprintf("%s changed while it was uploaded; run upload_file() again to send it anew", path), call. = FALSE)
    }
    digest <- sha256_hex(file(path))
    file <- finalize_upload(client, upload_id = id, upload_code = code, sha256 = digest, .timeout = .timeout)$file
  }
  if (isTRUE(wait)) {
    deadline <- Sys.time() + wait_timeout
    pause <- 0.1
    while (file$status %in% upload_status[c("UPLOADING", "PROCESSING")]) {
      if (Sys.time() >= deadline) {
        stop(sprintf("Steward did not finish storing upload %s within %s s; run upload_file() again to keep waiting",
          file$file_id, format(wait_timeout)), call. = FALSE)
      }
      Sys.sleep(pause)
      pause <- min(pause * 2, 2)
      file <- get(file$file_id)
    }
  }
  if (file$status %in% upload_tombstones) {
    state <- names(upload_status)[match(file$status, upload_status)]
    reason <- if (nzchar(file$failure_reason)) sprintf(" (%s)", file$failure_reason) else ""
    hint <- if (identical(file$failure_reason, "SHA256_MISMATCH")) {
      ": the bytes Steward received are not the file's; did it change? Run upload_file() again"
    } else {
      ""
    }
    stop(structure(
      class = c("steward_upload_failed", "error", "condition"),
      list(message = sprintf("upload %s of %s ended %s%s%s", file$file_id, file[["name"]], state, reason, hint),
        call = NULL, file = file, failure_reason = file$failure_reason)
    ))
  }
  file
}

# After a refused or lost write: rethrow once the retries are spent, else wait
# (0.25 s doubling to 8 s, with jitter) and return Steward's committed offset,
# asking again while Steward stays unreachable.
upload_retry <- function(error, failures, retries, id, get) {
  repeat {
    if (failures > retries) stop(error)
    delay <- min(0.25 * 2^(failures - 1), 8)
    Sys.sleep(stats::runif(1, delay / 2, delay))
    lost <- function(e) {
      error <<- e
      NULL
    }
    offset <- tryCatch(as.numeric(get(id)$offset), steward_unavailable = lost, steward_deadline_exceeded = lost)
    if (!is.null(offset)) return(offset)
    failures <- failures + 1L
  }
}

#' @rdname uploads
#' @export
download_file_to <- function(client, file_id, path, progress = interactive(), retries = 8L, .timeout = NULL) {
  check_client(client)
  if (methods::is(file_id, "Message")) file_id <- file_id$file_id
  if (!is.character(file_id) || length(file_id) != 1L || !nzchar(file_id)) {
    stop("file_id must be one file id (a string) or a steward.upload.v1.File message", call. = FALSE)
  }
  if (!is.character(path) || length(path) != 1L || !nzchar(path)) stop("path must be one file path", call. = FALSE)
  info <- get_file(client, file_id = file_id, .timeout = .timeout)$file
  size <- as.numeric(info[["size"]])
  target <- file.path(normalizePath(dirname(path), mustWork = TRUE), basename(path))
  partial <- file.path(dirname(target), sprintf(".%s.%s.part", basename(target), info$file_id))
  offset <- if (file.exists(partial) && file.size(partial) <= size) as.numeric(file.size(partial)) else 0
  con <- file(partial, if (offset > 0) "ab" else "wb")
  bar <- if (isTRUE(progress)) utils::txtProgressBar(min = 0, max = max(size, 1), initial = offset, style = 3) else NULL
  failures <- 0L
  tryCatch(
    {
      while (offset < size) {
        resumed <- tryCatch(
          {
            download_file(client, file_id = info$file_id, offset = offset, .timeout = .timeout,
              .callback = function(message) {
                data <- message$data
                if (offset + length(data) > size) {
                  stop(sprintf("Steward sent more than the %s bytes of file %s", format(size), info$file_id),
                    call. = FALSE)
                }
                writeBin(data, con)
                offset <<- offset + length(data)
                failures <<- 0L
                if (!is.null(bar)) utils::setTxtProgressBar(bar, offset)
                TRUE
              })
            FALSE
          },
          steward_unavailable = function(e) download_retry(e, failures <<- failures + 1L, retries),
          steward_deadline_exceeded = function(e) download_retry(e, failures <<- failures + 1L, retries)
        )
        if (!resumed && offset < size) {
          stop(sprintf("the download of file %s ended at byte %s of %s", info$file_id, format(offset),
            format(size)), call. = FALSE)
        }
      }
    },
    finally = {
      close(con)
      if (!is.null(bar)) close(bar)
    }
  )
  digest <- sha256_hex(file(partial))
  if (!identical(digest, info$sha256)) {
    unlink(partial)
    stop(structure(
      class = c("steward_checksum_mismatch", "error", "condition"),
      list(message = sprintf(paste0("file %s arrived with SHA-256 %s, but Steward recorded %s; the partial file ",
        "was removed, download it again"), info$file_id, digest, info$sha256), call = NULL)
    ))
  }
  if (!file.rename(partial, target)) stop(sprintf("cannot move the download to %s", target), call. = FALSE)
  invisible(info)
}

download_retry <- function(error, failures, retries) {
  if (failures > retries) stop(error)
  delay <- min(0.25 * 2^(failures - 1), 8)
  Sys.sleep(stats::runif(1, delay / 2, delay))
  TRUE
}

# Lowercase hex SHA-256 of a raw vector or, read in blocks, a connection; a plain string.
sha256_hex <- function(x) as.vector(unclass(as.character(openssl::sha256(x))))

# The drop-off id of a steward.upload.v1.DropOff message, an id, or an upload link .../upload/<id>.
upload_dropoff_id <- function(dropoff) {
  if (methods::is(dropoff, "Message")) return(dropoff$dropoff_id)
  if (!is.character(dropoff) || length(dropoff) != 1L) {
    stop("dropoff must be an upload link, a drop-off id or a steward.upload.v1.DropOff message", call. = FALSE)
  }
  text <- trimws(dropoff)
  if (grepl("://", text, fixed = TRUE)) {
    id <- sub("^.*/upload/([^/?#]+)/?([?#].*)?$", "\\1", text)
    if (identical(id, text) || !grepl(upload_uuid_pattern, id)) {
      stop(sprintf("%s is not an upload link (.../upload/<drop-off id>)", dropoff), call. = FALSE)
    }
    return(tolower(id))
  }
  if (!grepl(upload_uuid_pattern, text)) {
    stop(sprintf("%s is not a drop-off id (a UUID) or an upload link", dropoff), call. = FALSE)
  }
  tolower(text)
}
