# Every RPC of every service in the package's protos (inst/proto, the copies
# clients/r/generate keeps equal to proto/) is called by an exported function,
# so a new RPC without an R function fails here. The only RPCs left out are
# those gRPC-web cannot carry or that exist for Envoy alone, each named below.

not_in_r <- c(
  # Client streaming: gRPC-web has none; upload_file() sends with WriteChunk.
  "/steward.upload.v1.UploadService/UploadFile",
  # portability-server's REST bodies as raw HttpBody, served through Envoy;
  # create_donation(), list_donations(), get_donation(), delete_donation() and
  # query_donation_data() are their typed twins.
  "/steward.donation.v1.DonationService/LegacyCreateDonation",
  "/steward.donation.v1.DonationService/LegacyListDonations",
  "/steward.donation.v1.DonationService/LegacyGetDonation",
  "/steward.donation.v1.DonationService/LegacyDeleteDonation",
  "/steward.donation.v1.DonationService/LegacyQueryDonationData"
)

# "/package.Service/Method" for every rpc of every steward service .proto.
proto_rpcs <- function() {
  dir <- system.file("proto", "steward", package = "steward", mustWork = TRUE)
  rpcs <- character()
  for (path in list.files(dir, pattern = "_service\\.proto$", recursive = TRUE, full.names = TRUE)) {
    lines <- readLines(path, warn = FALSE)
    package <- sub("^package ([a-z0-9.]+);.*", "\\1", grep("^package ", lines, value = TRUE))
    service <- NULL
    for (line in lines) {
      if (grepl("^service [A-Za-z]+ \\{", line)) service <- sub("^service ([A-Za-z]+).*", "\\1", line)
      if (grepl("^\\s+rpc [A-Za-z]+\\(", line)) {
        rpcs <- c(rpcs, sprintf("/%s.%s/%s", package, service, sub("^\\s+rpc ([A-Za-z]+)\\(.*", "\\1", line)))
      }
    }
  }
  rpcs
}

test_that("every RPC of every service is called by an exported function", {
  rpcs <- proto_rpcs()
  services <- unique(sub("/[A-Za-z]+$", "", rpcs))
  expect_setequal(services, c(
    "/steward.authorization.v1.AuthorizationService", "/steward.dataset.v1.DatasetService",
    "/steward.donation.v1.DonationService", "/steward.secretshare.v1.SecretShareService",
    "/steward.upload.v1.UploadService"
  ))
  expect_true(all(not_in_r %in% rpcs))

  exported <- getNamespaceExports("steward")
  bodies <- vapply(exported, function(name) {
    value <- getExportedValue("steward", name)
    if (is.function(value)) paste(deparse(body(value)), collapse = "\n") else ""
  }, character(1))
  unreached <- Filter(function(rpc) !any(grepl(rpc, bodies, fixed = TRUE)), setdiff(rpcs, not_in_r))
  expect_equal(unreached, character(0))
})

test_that("the streaming RPCs are reachable: download_file streams a stored file's bytes", {
  owner <- live_client()
  created <- create_drop_off(owner, dropoff = list(title = "testthat streams"))
  path <- withr::local_tempfile()
  writeBin(as.raw(rep(0:255, 1024)), path)
  file <- upload_file(steward_client(live_env("STEWARD_URL")), path, created$dropoff$upload_url, created$upload_code)
  chunks <- download_file(owner, file_id = file$file_id)
  expect_gt(length(chunks), 0L)
  expect_identical(do.call(c, lapply(chunks, function(chunk) chunk$data)), readBin(path, "raw", 1e6))
  expect_error(download_file(owner, file_id = "00000000-0000-4000-8000-000000000000"), class = "steward_not_found")
})
