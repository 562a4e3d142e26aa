# The secret-share functions that need no server (spec secretshare.md §2.2-§2.5,
# §4; scenarios 5 and 6): encoding, splitting, decoding and both digests. The
# digests are compared with hand-written text and with what the Python
# client's module (clients/python/src/steward_client/secretshare.py) computes
# for the same inputs, so R and Python agree bit for bit.

p_text <- "18446744069414584321"
p <- gmp::as.bigz(p_text)
sha256_hex <- function(bytes) paste(as.character(unclass(openssl::sha256(bytes))), collapse = "")

# An Endpoint message as a party returns it.
endpoint_message <- function(...) {
  steward:::steward_load_protos()
  fields <- list(...)
  message <- RProtoBuf::new(RProtoBuf::P("steward.secretshare.v1.Endpoint"))
  for (name in names(fields)) message[[name]] <- fields[[name]]
  message
}

fixed2 <- endpoint_message(
  name = "survey-2026", vector_length = 3, field = "FIELD_FIELD64", encoding = "VALUE_ENCODING_FIXED_POINT",
  decimal_scale = 2, min_value = "-100000", max_value = "100000", min_batch_size = 5
)
counts <- list(
  name = "counts", vector_length = 10, encoding = "integer", decimal_scale = 0, min_value = 0, max_value = 1000,
  min_batch_size = 7, max_submissions_per_contributor = 0
)

test_that("split shares recombine to the encoded vector, and two splits of one value differ (scenario 5)", {
  encoded <- secretshare_encode(c("12.5", "-1000", "0.01"), fixed2)
  for (n in 2:4) {
    shares <- secretshare_split(encoded, n)
    expect_length(shares, n)
    total <- gmp::as.bigz(rep(0, 3))
    for (share in shares) {
      expect_true(inherits(share, "bigz"))
      expect_length(share, 3L)
      expect_true(all(share >= 0 & share < p))
      total <- total + share
    }
    expect_equal(as.character(gmp::mod.bigz(total, p)), as.character(encoded))
  }
  first <- secretshare_split(encoded, 3)
  second <- secretshare_split(encoded, 3)
  for (i in 1:3) expect_false(any(as.character(first[[i]]) == as.character(second[[i]])))
  expect_equal(secretshare_decode(encoded, fixed2), c("12.50", "-1000.00", "0.01"))
})

test_that("random shares use the whole field, beyond what a double holds exactly", {
  drawn <- unlist(lapply(secretshare_split(gmp::as.bigz(rep(0, 200)), 2), as.character))
  expect_true(any(gmp::as.bigz(drawn) > gmp::as.bigz(2)^53))
  expect_true(all(gmp::as.bigz(drawn) < p))
  # Each share alone looks uniform: about half above p / 2.
  above <- mean(gmp::as.bigz(drawn) > gmp::divq.bigz(p, 2))
  expect_gt(above, 0.35)
  expect_lt(above, 0.65)
})

test_that("decoding maps p - 5 to -5, scaled for d = 2 (scenario 6)", {
  expect_equal(secretshare_decode(c(as.character(p - 5), "5", "0"), fixed2), c("-0.05", "0.05", "0.00"))
  integer <- list(name = "i", vector_length = 1, encoding = "integer", min_value = -10, max_value = 10, min_batch_size = 2)
  expect_equal(secretshare_decode(p - 5, integer), "-5")
  expect_equal(secretshare_decode("9223372034707292160", integer), "9223372034707292160")
  expect_equal(secretshare_decode("9223372034707292161", integer), "-9223372034707292160")
  expect_equal(secretshare_decode(gmp::as.bigz("123456789"), list(name = "f", vector_length = 1,
    encoding = "fixed_point", decimal_scale = 12, min_value = 0, max_value = 1, min_batch_size = 2)), "0.000123456789")
  expect_error(secretshare_decode(p_text, integer), "not a field element")
  expect_error(secretshare_decode(c("1", "2"), integer), "has 1 elements, got 2", class = "steward_secretshare_error")
})

test_that("encoding is exact: strings, integers, bigz and doubles by their shortest text", {
  expect_equal(as.character(secretshare_encode(c("12.5", "-0.1", "1e2"), fixed2)),
    c("1250", "18446744069414584311", "10000"))
  expect_equal(as.character(secretshare_encode(list(12.5, -0.1, 100L), fixed2)),
    c("1250", "18446744069414584311", "10000"))
  # 0.1 + 0.2 is 0.30000000000000004 as a double: never rounded to 0.30.
  expect_error(secretshare_encode(list(0.1 + 0.2, 0, 0), fixed2), "more than 2 fractional digits",
    class = "steward_secretshare_encoding_error")
  expect_equal(as.character(secretshare_encode(c(" +2.50 ", ".5", "-1000.000"), fixed2)), c("250", "50", as.character(p - 100000)))
  big <- list(name = "big", vector_length = 2, encoding = "integer", min_value = "-9223372034707292160",
    max_value = "9223372034707292160", min_batch_size = 2)
  expect_equal(as.character(secretshare_encode(c("9223372034707292160", "-9223372034707292160"), big)),
    c("9223372034707292160", "9223372034707292161"))
  expect_equal(as.character(secretshare_encode(gmp::as.bigz(c("9007199254740993", "-3")), big)),
    c("9007199254740993", as.character(p - 3)))
})

test_that("encoding refuses extra fractional digits, out-of-range values, wrong lengths and inexact doubles", {
  refused <- function(values, endpoint, text) {
    expect_error(secretshare_encode(values, endpoint), text, class = "steward_secretshare_encoding_error")
  }
  refused(c("0.001", "0", "0"), fixed2, "value 1 has more than 2 fractional digits")
  refused(c("0", "1e-3", "0"), fixed2, "value 2 has more than 2 fractional digits")
  refused(c("0", "0", "1000.01"), fixed2, "value 3 is outside the range \\[-1000.00, 1000.00\\]")
  refused(c("-1e4", "0", "0"), fixed2, "outside the range")
  refused(c("1", "2"), fixed2, "takes 3 values, got 2")
  refused(c("1", "2", "3", "4"), fixed2, "takes 3 values, got 4")
  refused(c("1,5", "0", "0"), fixed2, "value 1 is not a decimal number")
  refused(c("0x10", "0", "0"), fixed2, "not a decimal number")
  refused(c(NA, "0", "0"), fixed2, "not a decimal number")
  refused(list(Inf, 0, 0), fixed2, "value 1 is not finite")
  refused(list(NaN, 0, 0), fixed2, "not finite")
  refused(list(0, 0, NA_integer_), fixed2, "value 3 is NA")
  three <- counts
  three$vector_length <- 3
  refused(c(1.5, 2, 3), three, "value 1 has more than 0 fractional digits")
  huge <- list(name = "h", vector_length = 1, encoding = "integer", min_value = 0, max_value = "9000000000000000000", min_batch_size = 2)
  refused(2^60, huge, "beyond 2\\^53")
  refused("1e99999999", huge, "outside the range")
  expect_equal(as.character(secretshare_encode("1152921504606846976", huge)), "1152921504606846976")
  expect_error(secretshare_encode(list(TRUE, 0, 0), fixed2), "value 1 is a logical")
  # The refusal never shows the value itself.
  error <- tryCatch(secretshare_encode(c("123.456", "0", "0"), fixed2), error = function(e) e)
  expect_false(grepl("123", conditionMessage(error)))
})

test_that("the config digest is the SHA-256 of the spec's text, as the Python client computes it", {
  text <- paste0(
    "steward-secretshare-endpoint/v1\nname=survey-2026\nparty_count=3\nfield=field64\n",
    "modulus=18446744069414584321\nvector_length=3\nencoding=fixed_point\ndecimal_scale=2\n",
    "min_value=-100000\nmax_value=100000\nmin_batch_size=5\nmax_submissions_per_contributor=1\n"
  )
  expected <- sha256_hex(charToRaw(text))
  expect_equal(secretshare_config_digest(fixed2, 3), expected)
  # From steward_client.secretshare.config_digest for the same endpoints.
  expect_equal(expected, "6338845963f0be1752b31b73a1dbb5554ee5a94e91e8a1f6c1a688d9ab7b9a7b")
  expect_equal(secretshare_config_digest(counts, 2), "e2e6aa22c96daa982f718d2f12892501f1cae05015fe82a98c6197933b8948b5")
  # Scenario 44: the party count is part of it.
  expect_false(secretshare_config_digest(fixed2, 2) == secretshare_config_digest(fixed2, 3))
  unset <- counts
  unset$min_batch_size <- NULL
  expect_error(secretshare_config_digest(unset, 2), "has no min_batch_size", class = "steward_secretshare_error")
})

test_that("the batch digest ignores order and case and matches the Python client", {
  ids <- c("0123456789abcdef0123456789ABCDEF", "ffffffffffffffffffffffffffffffff", "00000000000000000000000000000001")
  digest <- secretshare_batch_digest("survey-2026", ids)
  expect_equal(digest, "38e50666123e05d72d640010faf3629c30a45132e6cc412cd4cedcf8a90c17f7")
  expect_equal(secretshare_batch_digest("survey-2026", rev(tolower(ids))), digest)
  expect_equal(secretshare_batch_digest("survey-2026", ids[c(2, 3, 1)]), digest)
  expect_false(secretshare_batch_digest("survey-2027", ids) == digest)
  # By hand: the prefix, the name, a newline and the ids' bytes in ascending order.
  bytes <- function(id) as.raw(strtoi(substring(id, seq(1, 31, 2), seq(2, 32, 2)), 16L))
  by_hand <- c(charToRaw("steward-secretshare-batch/v1\nsurvey-2026\n"), bytes(ids[3]), bytes(tolower(ids[1])), bytes(ids[2]))
  expect_equal(sha256_hex(by_hand), digest)
  expect_error(secretshare_batch_digest("x", c(ids[1], tolower(ids[1]))), "each submission id once")
  expect_error(secretshare_batch_digest("x", character(0)), "at least one submission id")
  expect_error(secretshare_batch_digest("x", strrep("0", 32)), "all-zero")
  expect_error(secretshare_batch_digest("x", strrep("a", 31)), "not 32 hex digits")
})

test_that("new submission ids are 32 fresh lowercase hex digits", {
  ids <- replicate(50, secretshare_new_id())
  expect_true(all(grepl("^[0-9a-f]{32}$", ids)))
  expect_equal(length(unique(ids)), 50L)
})

test_that("the decodable batch size follows the larger bound", {
  expect_equal(as.character(secretshare_max_decodable_batch_size(fixed2)), "92233720347072")
  expect_null(secretshare_max_decodable_batch_size(list(name = "z", min_value = 0, max_value = 0)))
})

test_that("fixed64 elements cross RProtoBuf as exact decimal strings", {
  steward:::steward_load_protos()
  share <- c(as.character(p - 1), "0", "9007199254740993")
  request <- steward:::steward_message("steward.secretshare.v1.SubmitShareRequest", list(endpoint = "x", share = share))
  back <- RProtoBuf::read(RProtoBuf::P("steward.secretshare.v1.SubmitShareRequest"), RProtoBuf::serialize(request, NULL))
  expect_identical(back$share, share)
  # On the wire: fixed64, 8 little-endian bytes each (packed).
  bytes <- RProtoBuf::serialize(steward:::steward_message("steward.secretshare.v1.SubmitShareRequest",
    list(share = as.character(p - 1))), NULL)
  expect_equal(bytes, as.raw(c(0x2a, 0x08, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff)))
})
