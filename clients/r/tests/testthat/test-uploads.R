# upload_file() and download_file_to() against the live server over gRPC-web:
# a researcher's drop-off, an upload interrupted after one chunk and resumed,
# the owner's download with the SHA-256 checked, and a wrong code refused.

mib <- 1048576

new_drop_off <- function(title) {
  created <- create_drop_off(live_client(), dropoff = list(title = title, description = "from testthat"))
  expect_match(created$upload_code, "^[0-9A-Z]{5}-[0-9A-Z]{5}$")
  created
}

random_file <- function(size) {
  path <- tempfile(fileext = ".bin")
  data <- as.raw(sample.int(256L, size, replace = TRUE) - 1L)
  writeBin(data, path)
  list(path = path, data = data)
}

test_that("an interrupted upload resumes, and the download is the same bytes", {
  created <- new_drop_off("testthat resumable upload")
  link <- created$dropoff$upload_url
  code <- created$upload_code
  size <- 3 * mib + 4321
  source <- random_file(size)
  uploader <- live_client(token = NULL)

  first <- list()
  expect_error(
    upload_file(uploader, source$path, link, code, chunk_size = mib, progress = FALSE,
      on_chunk = function(start, end) {
        first[[length(first) + 1L]] <<- c(start, end)
        stop("connection lost")
      }),
    "connection lost"
  )
  expect_equal(first, list(c(0, mib)))

  files <- list_files(live_client(), dropoff_id = created$dropoff$dropoff_id)$files
  expect_length(files, 1L)
  pending <- files[[1]]
  expect_equal(pending$status, 1L) # UPLOADING
  resumed_at <- as.numeric(get_upload(uploader, upload_id = pending$file_id, upload_code = code)$file$offset)
  expect_equal(resumed_at, mib)

  second <- list()
  file <- upload_file(uploader, source$path, link, code, chunk_size = mib, progress = FALSE,
    on_chunk = function(start, end) second[[length(second) + 1L]] <<- c(start, end))
  expect_equal(file$file_id, pending$file_id)
  expect_equal(second[[1]][[1]], resumed_at)
  sent <- sum(vapply(second, function(r) r[[2]] - r[[1]], numeric(1)))
  expect_equal(sent, size - resumed_at)
  expect_equal(file$status, 3L) # AVAILABLE
  expect_equal(as.numeric(file[["size"]]), size)
  expect_equal(file$sha256, as.vector(unclass(as.character(openssl::sha256(source$data)))))

  target <- tempfile(fileext = ".bin")
  info <- download_file_to(live_client(), file$file_id, target, progress = FALSE)
  expect_equal(info$sha256, file$sha256)
  expect_identical(readBin(target, "raw", n = size + 1), source$data)
  expect_length(list.files(dirname(target), pattern = "\\.part$", all.files = TRUE), 0L)
  # A download that stopped after 1 MiB is continued from there.
  partial <- file.path(normalizePath(dirname(target)), sprintf(".%s.%s.part", basename(target), file$file_id))
  writeBin(source$data[seq_len(mib)], partial)
  unlink(target)
  download_file_to(live_client(), file, target, progress = FALSE)
  expect_identical(readBin(target, "raw", n = size + 1), source$data)
  expect_false(file.exists(partial))

  # One whose bytes are not the file's is refused and removed.
  writeBin(as.raw(rep(0L, mib)), partial)
  expect_error(download_file_to(live_client(), file, target, progress = FALSE), class = "steward_checksum_mismatch")
  expect_false(file.exists(partial))
})

test_that("a wrong upload code is refused and says so", {
  created <- new_drop_off("testthat wrong code")
  source <- random_file(1000)
  wrong <- if (created$upload_code == "00000-00000") "11111-11111" else "00000-00000"
  err <- expect_error(
    upload_file(live_client(token = NULL), source$path, created$dropoff$dropoff_id, wrong, progress = FALSE),
    class = "steward_permission_denied"
  )
  expect_match(conditionMessage(err), "upload code is not valid")
  expect_false(grepl(wrong, conditionMessage(err), fixed = TRUE))
  expect_length(list_files(live_client(), dropoff_id = created$dropoff$dropoff_id)$files, 0L)
})

test_that("arguments are checked before anything is sent", {
  source <- random_file(10)
  client <- live_client(token = NULL)
  expect_error(upload_file(client, source$path, "https://example.org/dropoffs/x", "ABCDE-FGHJK"),
    "not an upload link")
  expect_error(upload_file(client, source$path, "not-an-id", "ABCDE-FGHJK"), "not a drop-off id")
  expect_error(upload_file(client, tempfile(), "0b7c6f7e-5d7a-4c1e-9a53-7d1f0c1e2a3b", "ABCDE-FGHJK"),
    "one existing file")
  expect_error(download_file_to(client, "", tempfile()), "file_id must be")
})
