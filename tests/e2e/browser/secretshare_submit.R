# The R half of secretshare scenario 53, run by secretshare_parties.py: every
# contributor's values are encoded, split and sent to the three parties by the
# R client in clients/r (installed into R_LIBS_USER by tests/e2e/r-client).
#
# Reads one JSON object on stdin (tokens never go on the command line):
#   {"urls": [party URLs, any order], "endpoint": name,
#    "expect": {Endpoint fields the contributors rely on},
#    "contributors": [{"tokens": [one per URL], "values": ["-12.5", ...]}, ...]}
# and prints one JSON object on stdout:
#   {"submissionIds": [one per contributor, in order],
#    "configDigest": the digest R recomputed from the Endpoint the parties returned,
#    "encodedTotal": the field sum of every contributor's encoded vector, as R
#                    computed it before splitting (decimal strings, for the test to compare)}
# Any failure stops with the client's condition message and a non-zero status.

suppressPackageStartupMessages(library(steward))

input <- jsonlite::fromJSON(paste(readLines(file("stdin"), warn = FALSE), collapse = "\n"), simplifyVector = FALSE)
urls <- unlist(input$urls)
name <- input$endpoint

ids <- character(0)
digest <- NULL
total <- NULL
for (contributor in input$contributors) {
  parties <- secretshare_parties(as.list(urls), token = unlist(contributor$tokens))
  endpoint <- secretshare_endpoint(parties, name, expect = input$expect)
  values <- unlist(contributor$values)
  # Decimal strings, never doubles: the values cross into R exactly.
  stopifnot(is.character(values))
  encoded <- secretshare_encode(values, endpoint)
  total <- if (is.null(total)) encoded else gmp::mod.bigz(total + encoded, gmp::as.bigz("18446744069414584321"))
  ids <- c(ids, secretshare_submit(parties, name, values))
  digest <- secretshare_config_digest(endpoint, parties$count)
}

cat(jsonlite::toJSON(list(submissionIds = I(ids), configDigest = digest, encodedTotal = I(as.character(total))),
  auto_unbox = TRUE), "\n", sep = "")
