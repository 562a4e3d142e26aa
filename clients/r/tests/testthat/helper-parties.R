# Secret-share parties for the tests that need several (test-secretshare-parties.R,
# test-vignette.R): `steward serve` of the binary under test (STEWARD_BIN), each
# with its own data dir and embedded PostgreSQL, configured as party `index` of
# n_parties. Tokens come from each party's own CLI, since each party is its own
# deployment.

n_parties <- 3L

free_port <- function() {
  repeat {
    port <- 20000L + as.integer(sum(as.integer(openssl::rand_bytes(2L)) * c(256L, 1L)) %% 40000L)
    socket <- tryCatch(serverSocket(port), error = function(e) NULL)
    if (!is.null(socket)) {
      close(socket)
      return(port)
    }
  }
}

# One `steward serve` configured as party `index` of n_parties.
start_party <- function(binary, index) {
  # Under /tmp and world-traversable: as root the embedded PostgreSQL runs as `postgres`.
  dir <- tempfile(sprintf("ss-r-party%d-", index), tmpdir = "/tmp")
  dir.create(dir)
  Sys.chmod(dir, "0755")
  port <- free_port()
  url <- sprintf("http://127.0.0.1:%d", port)
  env <- Sys.getenv()
  keep <- !grepl("^(STEWARD_|OAUTH2_)", names(env)) & !names(env) %in% c("SERVER_ID", "NUM_CLIENTS_TO_SUM")
  env <- c(
    stats::setNames(as.character(env[keep]), names(env)[keep]),
    STEWARD_DATA_DIR = file.path(dir, "var"),
    STEWARD_LISTEN = sprintf("127.0.0.1:%d", port),
    STEWARD_PUBLIC_URL = url,
    STEWARD_SECRETSHARE_PARTY_INDEX = as.character(index),
    STEWARD_SECRETSHARE_PARTY_COUNT = as.character(n_parties),
    STEWARD_SECRETSHARE_PARTY_NAME = sprintf("party %d", index)
  )
  log <- file.path(dir, "steward.log")
  process <- processx::process$new(binary, "serve", env = env, stdout = log, stderr = "2>&1", cleanup = TRUE)
  list(binary = binary, index = index, dir = dir, port = port, url = url, env = env, log = log, process = process)
}

party_tail <- function(party) {
  text <- tryCatch(readLines(party$log, warn = FALSE), error = function(e) character(0))
  paste(utils::tail(text, 30L), collapse = "\n")
}

wait_healthy <- function(party) {
  deadline <- Sys.time() + 120
  while (Sys.time() < deadline) {
    if (!party$process$is_alive()) stop(sprintf("party %d exited: %s", party$index, party_tail(party)), call. = FALSE)
    status <- tryCatch(curl::curl_fetch_memory(paste0(party$url, "/healthz"))$status_code, error = function(e) 0L)
    if (status == 200L) return(invisible())
    Sys.sleep(0.1)
  }
  stop(sprintf("party %d never became healthy: %s", party$index, party_tail(party)), call. = FALSE)
}

party_token <- function(party, email, role) {
  result <- processx::run(party$binary, c("token", "create", "--email", email, "--role", role, "--description", "testthat"),
    env = party$env, error_on_status = FALSE, timeout = 120)
  if (result$status != 0L) stop("steward token create failed on party ", party$index, ": ", result$stderr, call. = FALSE)
  lines <- strsplit(trimws(result$stdout), "\n", fixed = TRUE)[[1]]
  lines[[length(lines)]]
}

stop_party <- function(party) {
  if (party$process$is_alive()) {
    party$process$signal(15L)
    party$process$wait(60000)
    if (party$process$is_alive()) party$process$kill()
  }
  unlink(party$dir, recursive = TRUE)
}
