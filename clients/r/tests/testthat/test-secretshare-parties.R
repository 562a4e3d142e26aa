# The secret-share functions against three real Steward parties (spec
# secretshare.md §4; scenarios 2, 4, 12, 44, 53, 54): `steward serve` of the
# binary under test (STEWARD_BIN, which tests/e2e/run exports), each with its
# own data dir and embedded PostgreSQL, configured as parties 0, 1 and 2 of 3,
# exactly as the Python client's test_secretshare_parties.py starts them.
# Tokens come from each party's own CLI, since each party is its own
# deployment. A missing STEWARD_BIN fails these tests; they are never skipped.

binary <- Sys.getenv("STEWARD_BIN")
if (!nzchar(binary)) stop("STEWARD_BIN is not set: run these tests with `tests/e2e/run r`", call. = FALSE)
stack <- lapply(seq_len(n_parties) - 1L, function(index) start_party(binary, index))
withr::defer(for (party in stack) stop_party(party), envir = environment())
for (party in stack) wait_healthy(party)
urls <- vapply(stack, function(party) party$url, character(1))

token_cache <- new.env(parent = emptyenv())
# The tokens of one person on every party, by party index.
tokens <- function(email, role) {
  key <- paste(email, role)
  if (is.null(token_cache[[key]])) {
    token_cache[[key]] <- vapply(stack, function(party) party_token(party, email, role), character(1))
  }
  token_cache[[key]]
}

as_role <- function(email, role) secretshare_parties(as.list(urls), token = tokens(email, role))

# Each party's pending ids, as its scientist sees them.
pending <- function(name) {
  scientist <- tokens("sci@example.org", "scientist")
  lapply(seq_len(n_parties), function(i) {
    list_pending_submissions(steward_client(urls[[i]], token = scientist[[i]]), endpoint = name)$submission_ids
  })
}

create <- function(...) secretshare_create_endpoint(as_role("dev@example.org", "developer"), ...)

# --- configuration checks --------------------------------------------------------------

test_that("secretshare_parties puts the parties in index order", {
  parties <- secretshare_parties(as.list(urls[c(3, 1, 2)])) # GetPartyInfo needs no token
  expect_equal(vapply(parties$clients, function(client) client$url, character(1)), urls)
  expect_equal(vapply(parties$infos, function(info) as.integer(info$party_index), integer(1)), 0:2)
  for (info in parties$infos) {
    expect_equal(info$party_count, n_parties)
    expect_equal(info$modulus, "18446744069414584321")
  }
  expect_equal(vapply(parties$infos, function(info) info$party_name, character(1)), c("party 0", "party 1", "party 2"))
  expect_output(print(parties), "3 parties")
})

test_that("a party listed twice is refused and nothing is sent (scenario 54)", {
  create(name = "twice", vector_length = 1, encoding = "integer", min_value = 0, max_value = 10, min_batch_size = 2)
  contributor <- tokens("c-twice@example.org", "contributor")
  expect_error(
    secretshare_parties(as.list(urls[c(1, 1, 3)]), token = contributor[c(1, 1, 3)]),
    "both say they are party 0; two shares must never go to one party, so nothing is sent",
    class = "steward_secretshare_error"
  )
  expect_equal(pending("twice"), list(character(0), character(0), character(0)))
})

test_that("fewer parties than configured are refused (scenario 44)", {
  expect_error(secretshare_parties(as.list(urls[1:2])), "says there are 3 parties, but 2 were configured here",
    class = "steward_secretshare_error")
})

test_that("different configurations on the parties are refused and nothing is sent (scenario 54)", {
  developer <- tokens("dev@example.org", "developer")
  for (i in seq_len(n_parties)) {
    create_endpoint(steward_client(urls[[i]], token = developer[[i]]), endpoint = list(
      name = "split-brain", vector_length = if (i == 3) 4 else 3, encoding = "VALUE_ENCODING_INTEGER",
      min_value = "0", max_value = "10", min_batch_size = 2
    ))
  }
  contributor <- as_role("c-split@example.org", "contributor")
  expect_error(secretshare_submit(contributor, "split-brain", c(1, 2, 3)),
    "parties 0 and 2 hold different configurations", class = "steward_secretshare_error")
  expect_equal(pending("split-brain"), list(character(0), character(0), character(0)))
})

test_that("secretshare_endpoint checks the digest everywhere and the expected fields", {
  create(name = "expected", vector_length = 2, encoding = "fixed_point", decimal_scale = 1, min_value = -5, max_value = 5)
  parties <- as_role("c-exp@example.org", "contributor")
  endpoint <- secretshare_endpoint(parties, "expected", expect = list(vector_length = 2, encoding = "fixed_point", decimal_scale = 1))
  expect_equal(endpoint$config_digest, secretshare_config_digest(endpoint, n_parties))
  expect_equal(endpoint$min_batch_size, 5) # the server's default
  expect_error(secretshare_endpoint(parties, "expected", expect = list(decimal_scale = 2)),
    "has decimal_scale = 1, expected 2", class = "steward_secretshare_error")
  # Creating again is idempotent; the same name with another configuration is refused.
  again <- create(name = "expected", vector_length = 2, encoding = "fixed_point", decimal_scale = 1, min_value = -5, max_value = 5)
  expect_equal(again$config_digest, endpoint$config_digest)
  refused <- tryCatch(create(name = "expected", vector_length = 3, encoding = "integer", min_value = 0, max_value = 5),
    steward_secretshare_error = function(e) e)
  expect_match(conditionMessage(refused), "party 0 .* refused to create endpoint 'expected'")
  expect_s3_class(refused$parent, "steward_already_exists")
})

# --- submitting and summing (scenarios 2, 4, 12, 53) ----------------------------------

rows <- list(
  list("12.5", "-1000", "0.01"),
  list("-0.25", "999.99", "-0.01"),
  list(3L, "-17.3", "1000"),
  list(0.1, "0", "-999.99"),
  list("-42", 5.05, "7"),
  list("1000", "-1000", "-1000"),
  list("-0.07", "0.5", "250.25"),
  list(-999.99, "-0.01", "1e2"),
  list(".5", "33.33", "-66.67"),
  list("-1", "-2", "-3")
)

# The exact sums of some rows, computed here independently of the package:
# each value as whole hundredths (|value| <= 1000.00, so the double is within
# a rounding of the exact cent count), summed as integers.
expected_sums <- function(rows) {
  totals <- c(0, 0, 0)
  for (row in rows) {
    totals <- totals + vapply(row, function(value) round(as.numeric(value) * 100), numeric(1))
  }
  vapply(totals, function(cents) {
    sprintf("%s%d.%02d", if (cents < 0) "-" else "", as.integer(abs(cents) %/% 100), as.integer(abs(cents) %% 100))
  }, character(1))
}

contribute <- function(name, rows, first) {
  vapply(seq_along(rows), function(i) {
    contributor <- as_role(sprintf("c%d@example.org", first + i), "contributor")
    secretshare_submit(contributor, name, rows[[i]])
  }, character(1))
}

test_that("R submits to three parties and the fixed-point sums with negatives are exact, in disjoint batches", {
  create(name = "fixed", vector_length = 3, encoding = "fixed_point", decimal_scale = 2, min_value = -100000,
    max_value = 100000, min_batch_size = 5)
  ids <- contribute("fixed", rows, 0L)
  expect_true(all(grepl("^[0-9a-f]{32}$", ids)))
  expect_equal(pending("fixed"), rep(list(ids), n_parties))

  scientist <- as_role("sci@example.org", "scientist")
  first <- secretshare_seal_and_sum(scientist, "fixed", n = 5)
  expect_equal(first$submission_ids, ids[1:5]) # the oldest first
  expect_equal(first$sums, expected_sums(rows[1:5]))
  expect_equal(first$submission_count, 5L)
  expect_equal(first$contributor_count, 5L)
  expect_equal(first$batch_digest, secretshare_batch_digest("fixed", ids[1:5]))
  expect_false(first$already_sealed)

  # Scenario 53: the parties' stored aggregate shares, read back and added up
  # here with gmp, decode to the same sums.
  total <- gmp::as.bigz(c(0, 0, 0))
  for (i in seq_len(n_parties)) {
    client <- steward_client(urls[[i]], token = tokens("sci@example.org", "scientist")[[i]])
    batch <- get_batch(client, endpoint = "fixed", batch_digest = first$batch_digest)$batch
    expect_equal(as.integer(batch$party_index), i - 1L)
    total <- total + gmp::as.bigz(batch$aggregate_share)
  }
  p <- gmp::as.bigz("18446744069414584321")
  total <- gmp::mod.bigz(total, p)
  half <- gmp::divq.bigz(p - 1, 2)
  cents <- vapply(seq_len(3), function(j) as.character(if (total[j] > half) total[j] - p else total[j]), character(1))
  expect_equal(cents, as.character(round(vapply(expected_sums(rows[1:5]), as.numeric, numeric(1)) * 100)))

  # Scenario 12: the same set again, in another order, is the same batch.
  again <- secretshare_seal_and_sum(scientist, "fixed", ids = rev(ids[1:5]))
  expect_true(again$already_sealed)
  expect_equal(again$sums, first$sums)
  expect_equal(again$batch_digest, first$batch_digest)

  # Scenario 4: the rest is its own batch, and both add up to the total.
  second <- secretshare_seal_and_sum(scientist, "fixed")
  expect_equal(second$submission_ids, ids[6:10])
  expect_equal(second$sums, expected_sums(rows[6:10]))
  expect_equal(pending("fixed"), rep(list(character(0)), n_parties))
  both <- vapply(1:3, function(j) {
    as.character(round(as.numeric(first$sums[[j]]) * 100) + round(as.numeric(second$sums[[j]]) * 100))
  }, character(1))
  expect_equal(both, as.character(round(vapply(expected_sums(rows), as.numeric, numeric(1)) * 100)))
})

test_that("too few pending submissions and an overlapping set are refused when sealing", {
  create(name = "overlap", vector_length = 1, encoding = "integer", min_value = -10, max_value = 10, min_batch_size = 2)
  ids <- contribute("overlap", list(list(-3), list(4), list(-10)), 100L)
  scientist <- as_role("sci@example.org", "scientist")
  sealed <- secretshare_seal_and_sum(scientist, "overlap", n = 2)
  expect_equal(sealed$sums, "1")
  expect_error(secretshare_seal_and_sum(scientist, "overlap"), "only 1 submissions .* a batch needs at least 2",
    class = "steward_secretshare_error")
  refused <- tryCatch(secretshare_seal_and_sum(scientist, "overlap", ids = ids[2:3]),
    steward_secretshare_seal_error = function(e) e)
  expect_s3_class(refused$parent, "steward_failed_precondition")
  expect_match(conditionMessage(refused), "party 0 .* refused to seal .* nothing was sealed; this set cannot be sealed")
  expect_true(refused$permanent)
  expect_equal(refused$sealed_on, integer(0))
  expect_equal(pending("overlap"), rep(list(ids[3]), n_parties))
})

test_that("a refusal by the first party leaves nothing anywhere", {
  create(name = "once", vector_length = 1, encoding = "integer", min_value = 0, max_value = 10, min_batch_size = 2)
  contributor <- as_role("c-once@example.org", "contributor")
  first <- secretshare_submit(contributor, "once", 1)
  refused <- tryCatch(secretshare_submit(contributor, "once", 2), steward_secretshare_error = function(e) e)
  expect_match(conditionMessage(refused), "party 0 .* refused submission .*; no party holds it")
  expect_s3_class(refused$parent, "steward_already_exists")
  expect_equal(pending("once"), rep(list(first), n_parties))
})

test_that("a refusal by a later party withdraws the submission from the parties that accepted it", {
  create(name = "withdrawn", vector_length = 1, encoding = "integer", min_value = 0, max_value = 10, min_batch_size = 2)
  # Party 2 knows this person only as a scientist, so it refuses the share.
  half <- c(party_token(stack[[1]], "c-half@example.org", "contributor"),
    party_token(stack[[2]], "c-half@example.org", "contributor"),
    party_token(stack[[3]], "c-half@example.org", "scientist"))
  contributor <- secretshare_parties(as.list(urls), token = half)
  refused <- tryCatch(secretshare_submit(contributor, "withdrawn", 3), steward_secretshare_error = function(e) e)
  expect_match(conditionMessage(refused), "party 2 .* refused submission .*; it was withdrawn from parties \\[0, 1\\]")
  expect_s3_class(refused$parent, "steward_permission_denied")
  expect_equal(pending("withdrawn"), list(character(0), character(0), character(0)))
})

test_that("an unreachable party keeps the shares for a retry with the same id", {
  create(name = "resumed", vector_length = 2, encoding = "integer", min_value = -10, max_value = 10, min_batch_size = 2)
  parties <- as_role("c-resume@example.org", "contributor")
  secretshare_endpoint(parties, "resumed")
  # Party 2 goes away after the checks: its address now leads nowhere.
  gone <- parties
  gone$retries <- 0L
  gone$clients[[3]] <- steward_client(sprintf("http://127.0.0.1:%d", free_port()), token = tokens("c-resume@example.org", "contributor")[[3]])
  incomplete <- tryCatch(secretshare_submit(gone, "resumed", c(-4, 9)), steward_secretshare_incomplete = function(e) e)
  expect_match(conditionMessage(incomplete), "party 2 .* could not be reached")
  expect_equal(incomplete$acknowledged, c(0L, 1L))
  expect_s3_class(incomplete$parent, "steward_unavailable")
  shown <- paste(conditionMessage(incomplete), paste(capture.output(print(incomplete)), collapse = "\n"))
  for (share in incomplete$shares()) expect_false(any(vapply(as.character(share), grepl, logical(1), shown, fixed = TRUE)))
  id <- incomplete$submission_id
  now <- pending("resumed")
  expect_equal(now, list(id, id, character(0)))

  expect_equal(secretshare_resume(parties, incomplete), id)
  expect_equal(pending("resumed"), rep(list(id), n_parties))
  # Resuming again is harmless: every party answers duplicate = true.
  incomplete$acknowledged <- integer(0)
  expect_equal(secretshare_resume(parties, incomplete), id)
  expect_equal(pending("resumed"), rep(list(id), n_parties))
})

test_that("sealing without the scientist role is refused and the same set may be retried", {
  create(name = "guarded", vector_length = 1, encoding = "integer", min_value = 0, max_value = 10, min_batch_size = 2)
  ids <- contribute("guarded", list(list(1), list(2)), 300L)
  contributor <- as_role("c301@example.org", "contributor")
  refused <- tryCatch(secretshare_seal_and_sum(contributor, "guarded", ids = ids),
    steward_secretshare_seal_error = function(e) e)
  expect_match(conditionMessage(refused), "retrying secretshare_seal_and_sum\\(parties, 'guarded', ids = e\\$submission_ids\\) is safe")
  expect_false(refused$permanent)
  expect_equal(refused$submission_ids, ids)
  expect_s3_class(refused$parent, "steward_permission_denied")
  result <- secretshare_seal_and_sum(as_role("sci@example.org", "scientist"), "guarded", ids = refused$submission_ids)
  expect_equal(result$sums, "3")
  expect_equal(result$contributor_count, 2L)
})

test_that("a batch never exceeds the decodable size, and values beyond 2^53 sum exactly (scenario 3)", {
  top <- "3074457344902430720" # (p - 1) / 2 / 3: three of these still decode, four would wrap
  create(name = "edge", vector_length = 1, encoding = "integer", min_value = 0, max_value = top, min_batch_size = 2)
  ids <- contribute("edge", rep(list(list(top)), 4), 400L)
  scientist <- as_role("sci@example.org", "scientist")
  endpoint <- secretshare_endpoint(scientist, "edge")
  expect_equal(endpoint$max_decodable_batch_size, "3")
  expect_equal(as.character(secretshare_max_decodable_batch_size(endpoint)), "3")
  result <- secretshare_seal_and_sum(scientist, "edge")
  expect_equal(result$sums, "9223372034707292160")
  expect_equal(result$submission_ids, ids[1:3])
  expect_equal(pending("edge"), rep(list(ids[4]), n_parties))
})
