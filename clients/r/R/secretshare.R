# Additive secret sharing over Steward parties (spec secretshare.md §2, §4),
# the R twin of the Python client's steward_client.secretshare.
#
# A contributor's vector is encoded as integers, mapped into the field of
# p = 2^64 - 2^32 + 1, split into N uniformly random shares that add up to it
# modulo p, and share i is sent to party i (a Steward deployment of its own).
# No party alone learns anything. A scientist seals the same set of
# submissions on every party and adds the parties' aggregate shares.
#
#   parties <- secretshare_parties(list(steward_client(url_a, token_a), steward_client(url_b, token_b)))
#   secretshare_endpoint(parties, "survey", expect = list(vector_length = 3))
#   secretshare_submit(parties, "survey", c("1.25", "3", "-0.5"))     # a contributor
#   result <- secretshare_seal_and_sum(parties, "survey")              # a scientist
#   result$sums                                                        # exact decimal strings
#
# Field elements are gmp bigz values here and decimal strings on the wire
# (fixed64 fields cross RProtoBuf as strings: the package sets
# options(RProtoBuf.int64AsString = TRUE) when it loads). R doubles are exact
# only up to 2^53, so no field arithmetic is ever done in doubles.
# Randomness comes only from openssl::rand_bytes (the OS CSPRNG), never from
# runif() or sample(). Nothing here prints shares or values, and no error
# message contains them.

#' Additive secret sharing over Steward parties
#'
#' A contributor's vector is encoded as integers, mapped into the field of p = 2^64 - 2^32 + 1, split into N
#' uniformly random shares that add up to it modulo p, and share i is sent to party i (a Steward deployment of
#' its own). No party alone learns anything. A scientist seals the same set of submissions on every party and
#' adds the parties' aggregate shares to get the sums (spec secretshare.md sections 2 and 4).
#'
#' The functions: \code{\link{secretshare_parties}} checks every party; \code{\link{secretshare_endpoint}}
#' and \code{\link{secretshare_create_endpoint}} read or create an endpoint on all of them;
#' \code{\link{secretshare_submit}} (with \code{\link{secretshare_resume}} and
#' \code{\link{secretshare_withdraw}} after an interruption) sends a contributor's values;
#' \code{\link{secretshare_pending}} and \code{\link{secretshare_seal_and_sum}} give a scientist the sums.
#' The building blocks are exported too: \code{\link{secretshare_encode}}, \code{\link{secretshare_decode}},
#' \code{\link{secretshare_split}}, \code{\link{secretshare_config_digest}},
#' \code{\link{secretshare_batch_digest}}, \code{\link{secretshare_new_id}} and
#' \code{\link{secretshare_max_decodable_batch_size}}.
#'
#' @details Randomness comes only from \code{openssl::rand_bytes} (8 bytes per element, little-endian,
#' rejection sampling below p), the arithmetic from \code{gmp}; \code{fixed64} fields cross RProtoBuf as
#' decimal strings. Failures are conditions of class \code{steward_secretshare_error} (encoding refusals also
#' \code{steward_secretshare_encoding_error}; sealing failures \code{steward_secretshare_seal_error} with
#' \code{$submission_ids}, \code{$batch_digest}, \code{$sealed_on} and \code{$permanent}), with the party's
#' \code{steward_error} as \code{$parent}. No message contains values or shares.
#' @examples
#' \dontrun{
#' parties <- secretshare_parties(list(url_a, url_b, url_c), token = c(token_a, token_b, token_c))
#' secretshare_submit(parties, "survey", c("1.25", "-3", "0.5"))
#' secretshare_seal_and_sum(parties, "survey")$sums
#' }
#' @name secretshare
NULL

# The Field64 modulus, as text (the bigz is made on use).
.ss_modulus <- "18446744069414584321"
# (p - 1) / 2: the largest |integer| a field element stands for.
.ss_half <- "9223372034707292160"
.ss_decimal_text <- "^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?$"
.ss_id_text <- "^[0-9a-fA-F]{32}$"
.ss_encodings <- c(integer = 1L, fixed_point = 2L)
# gRPC statuses worth another try with the identical request: the party was
# unreachable or slow, or (sealing) lost a serialization race.
.ss_transient <- c("steward_unavailable", "steward_deadline_exceeded", "steward_aborted")

ss_p <- function() gmp::as.bigz(.ss_modulus)
ss_half <- function() gmp::as.bigz(.ss_half)

# A secret-share condition: class steward_secretshare_error (plus `class`),
# with the party's steward_error, if any, as `parent`.
ss_condition <- function(message, class = NULL, parent = NULL, ...) {
  structure(
    class = c(class, "steward_secretshare_error", "error", "condition"),
    list(message = message, call = NULL, parent = parent, ...)
  )
}

ss_stop <- function(message, class = NULL, parent = NULL, ...) {
  stop(ss_condition(message, class = class, parent = parent, ...))
}

ss_encoding_stop <- function(message) ss_stop(message, class = "steward_secretshare_encoding_error")

# --- endpoints as plain values -----------------------------------------------------

# The fields of an Endpoint (an RProtoBuf message from get_endpoint() /
# create_endpoint(), or a named list of the same fields) that encoding and the
# digest use. 64-bit integers stay strings; unset optional fields are NULL.
ss_endpoint_fields <- function(endpoint) {
  if (methods::is(endpoint, "Message")) {
    get <- function(name) endpoint[[name]]
    has <- function(name) endpoint$has(name)
  } else if (is.list(endpoint) && !is.null(names(endpoint))) {
    get <- function(name) endpoint[[name]]
    has <- function(name) !is.null(endpoint[[name]])
  } else {
    stop("endpoint must be a steward.secretshare.v1.Endpoint message (get_endpoint(...)$endpoint) ",
      "or a named list of its fields", call. = FALSE)
  }
  text <- function(name, default = "0") {
    value <- get(name)
    if (is.null(value) || length(value) == 0L) return(default)
    ss_integer_text(value, name)
  }
  list(
    name = as.character(get("name") %||% ""),
    vector_length = as.integer(text("vector_length")),
    field = ss_enum(get("field"), c(field64 = 1L, FIELD_FIELD64 = 1L, FIELD_UNSPECIFIED = 0L), "field"),
    encoding = ss_encoding_value(get("encoding")),
    decimal_scale = as.integer(text("decimal_scale")),
    min_value = text("min_value"),
    max_value = text("max_value"),
    min_batch_size = if (has("min_batch_size")) text("min_batch_size") else NULL,
    max_submissions_per_contributor = if (has("max_submissions_per_contributor")) {
      text("max_submissions_per_contributor")
    } else {
      NULL
    },
    config_digest = as.character(get("config_digest") %||% "")
  )
}

# A whole number (integer, whole double below 2^53, decimal string, bigz) as
# decimal text without leading zeros.
ss_integer_text <- function(value, what) {
  if (length(value) != 1L || is.na(value)) stop(what, " must be one whole number", call. = FALSE)
  if (inherits(value, "bigz")) return(as.character(value))
  if (is.character(value)) {
    if (!grepl("^-?[0-9]+$", value)) stop(what, " must be a whole number, got \"", value, "\"", call. = FALSE)
    return(as.character(gmp::as.bigz(value)))
  }
  if (is.numeric(value) && is.finite(value) && value == trunc(value) && abs(value) <= 2^53) {
    return(format(value, scientific = FALSE, trim = TRUE))
  }
  stop(what, " must be a whole number (as a string when beyond 2^53)", call. = FALSE)
}

ss_enum <- function(value, names, what) {
  if (is.null(value) || length(value) == 0L) return(0L)
  if (is.character(value)) {
    key <- if (value %in% names(names)) value else tolower(value)
    if (!key %in% names(names)) stop(what, " \"", value, "\" is not one of ", paste(names(names), collapse = ", "), call. = FALSE)
    return(unname(names[[key]]))
  }
  as.integer(value)
}

# "integer", "fixed_point", the enum's value name or number -> the number.
ss_encoding_value <- function(value) {
  ss_enum(value, c(.ss_encodings, VALUE_ENCODING_INTEGER = 1L, VALUE_ENCODING_FIXED_POINT = 2L,
    VALUE_ENCODING_UNSPECIFIED = 0L), "encoding")
}

ss_scale <- function(fields) {
  if (fields$encoding == 1L) {
    if (fields$decimal_scale != 0L) {
      ss_stop(sprintf("endpoint '%s': integer encoding with decimal_scale %d", fields$name, fields$decimal_scale))
    }
    return(0L)
  }
  if (fields$encoding == 2L) return(fields$decimal_scale)
  ss_stop(sprintf("endpoint '%s' has no value encoding; is it an Endpoint returned by a party?", fields$name))
}

# --- pure functions ------------------------------------------------------------------

#' The largest batch of an endpoint whose sum decodes exactly (spec §2.2).
#'
#' @param endpoint an Endpoint message or a named list of its fields.
#' @return a bigz, or NULL when both bounds are 0 (no limit).
#' @seealso \code{\link{secretshare}}
#' @export
secretshare_max_decodable_batch_size <- function(endpoint) {
  fields <- ss_endpoint_fields(endpoint)
  bound <- max(abs(gmp::as.bigz(fields$min_value)), abs(gmp::as.bigz(fields$max_value)))
  if (bound == 0) return(NULL)
  gmp::divq.bigz(ss_half(), bound)
}

# The shortest decimal text that reads back as the same double (what Python's
# repr() and JavaScript print), so 0.1 is exactly "0.1".
ss_shortest_text <- function(x) {
  for (digits in 1:17) {
    text <- sprintf("%.*g", digits, x)
    if (as.numeric(text) == x) return(text)
  }
  sprintf("%.17g", x)
}

# One value as exact decimal text: strings are checked, doubles written in
# their shortest form; anything that cannot be exact is refused.
ss_value_text <- function(value, position) {
  if (inherits(value, "bigz")) {
    if (length(value) != 1L || is.na(value)) ss_encoding_stop(sprintf("value %d is not one number", position))
    return(as.character(value))
  }
  if (is.logical(value)) stop(sprintf("value %d is a logical; give a number or a decimal string", position), call. = FALSE)
  if (length(value) != 1L) ss_encoding_stop(sprintf("value %d is not one number (length %d)", position, length(value)))
  if (is.character(value)) {
    text <- trimws(value)
    if (is.na(text) || !grepl(.ss_decimal_text, text)) {
      ss_encoding_stop(sprintf("value %d is not a decimal number (e.g. \"12\", \"-0.25\", \"1e3\")", position))
    }
    return(text)
  }
  if (is.integer(value)) {
    if (is.na(value)) ss_encoding_stop(sprintf("value %d is NA", position))
    return(as.character(value))
  }
  if (is.double(value)) {
    if (!is.finite(value)) ss_encoding_stop(sprintf("value %d is not finite", position))
    # Above 2^53 a double is no longer every whole number: what was meant may
    # already be lost, so such values must come as strings.
    if (abs(value) > 2^53) {
      ss_encoding_stop(sprintf(
        "value %d is a double beyond 2^53, which R cannot hold exactly; give it as a decimal string", position))
    }
    return(ss_shortest_text(value))
  }
  stop(sprintf("value %d is a %s; give a number, a decimal string or a bigz", position, class(value)[[1]]), call. = FALSE)
}

# Decimal text * 10^scale as a bigz, or NULL if that is not an integer (never
# rounds). `limit` caps the size: beyond it the value is out of any range.
ss_scaled_integer <- function(text, scale) {
  negative <- startsWith(text, "-")
  body <- sub("^[+-]", "", text)
  exponent <- 0
  if (grepl("[eE]", body)) {
    exponent <- as.numeric(sub("^.*[eE]", "", body))
    body <- sub("[eE].*$", "", body)
  }
  parts <- strsplit(body, ".", fixed = TRUE)[[1]]
  whole <- parts[[1]]
  fraction <- if (length(parts) > 1L) parts[[2]] else ""
  digits <- sub("^0+", "", paste0(whole, fraction))
  if (!nzchar(digits)) return(gmp::as.bigz(0))
  stripped <- sub("0+$", "", digits) # 2.50 at d = 1 is 25: zeros past d change nothing
  shift <- exponent - nchar(fraction) + (nchar(digits) - nchar(stripped)) + scale
  if (shift < 0) return(NULL)
  # Far beyond any int64 bound; never build a huge integer.
  integer <- if (shift + nchar(stripped) > 40) gmp::as.bigz(10)^40 else gmp::as.bigz(stripped) * gmp::as.bigz(10)^shift
  if (negative) -integer else integer
}

# integer / 10^scale as exact decimal text: 5 at scale 2 is "0.05", -5 "-0.05".
ss_unscaled <- function(integer, scale) {
  integer <- gmp::as.bigz(integer)
  negative <- integer < 0
  digits <- as.character(abs(integer))
  if (scale > 0L) {
    if (nchar(digits) <= scale) digits <- paste0(strrep("0", scale + 1L - nchar(digits)), digits)
    cut <- nchar(digits) - scale
    digits <- paste0(substr(digits, 1L, cut), ".", substr(digits, cut + 1L, nchar(digits)))
  }
  if (negative) paste0("-", digits) else digits
}

#' Encodes one submission's values as field elements (spec §2.2, §4.3)
#'
#' Each value is a decimal string (\code{"12.5"}, \code{"-3"}, \code{"1e2"}), an integer, a
#' bigz, or a double read from its shortest decimal text (0.1 is exactly 0.1). A value becomes
#' \code{e = v * 10^d} for fixed-point endpoints (\code{e = v} for integer ones) and enters the
#' field as \code{e mod p}. Nothing is ever rounded.
#'
#' @param values a vector or list of \code{vector_length} values.
#' @param endpoint an Endpoint message (\code{get_endpoint(client, name)$endpoint}) or a named
#'   list of its fields.
#' @return a bigz vector of field elements in \[0, p).
#' @section Errors: a condition of class \code{steward_secretshare_encoding_error} for a value
#'   with more than \code{decimal_scale} fractional digits, outside \[min_value, max_value\] after
#'   scaling, not finite, a double beyond 2^53, or a vector of the wrong length.
#' @seealso \code{\link{secretshare}}
#' @export
secretshare_encode <- function(values, endpoint) {
  fields <- ss_endpoint_fields(endpoint)
  if (is.null(values) || !(is.atomic(values) || is.list(values)) || is.matrix(values)) {
    stop("values must be a vector or list of numbers or decimal strings", call. = FALSE)
  }
  count <- length(values)
  if (count != fields$vector_length) {
    ss_encoding_stop(sprintf("endpoint '%s' takes %d values, got %d", fields$name, fields$vector_length, count))
  }
  scale <- ss_scale(fields)
  low <- gmp::as.bigz(fields$min_value)
  high <- gmp::as.bigz(fields$max_value)
  p <- ss_p()
  encoded <- gmp::as.bigz(rep(0, count))
  for (position in seq_len(count)) {
    value <- if (is.list(values)) values[[position]] else values[position]
    integer <- ss_scaled_integer(ss_value_text(value, position), scale)
    if (is.null(integer)) {
      ss_encoding_stop(sprintf(
        "value %d has more than %d fractional digits, which endpoint '%s' cannot hold; round it yourself first if that is what you mean",
        position, scale, fields$name))
    }
    if (integer < low || integer > high) {
      ss_encoding_stop(sprintf("value %d is outside the range [%s, %s] of endpoint '%s'", position,
        ss_unscaled(low, scale), ss_unscaled(high, scale), fields$name))
    }
    encoded[position] <- gmp::mod.bigz(integer, p)
  }
  encoded
}

# Field elements (bigz, decimal strings or small whole numbers) as a bigz
# vector, each checked to lie in [0, p).
ss_elements <- function(elements, what) {
  if (inherits(elements, "bigz")) {
    values <- elements
  } else if (is.character(elements)) {
    if (anyNA(elements) || !all(grepl("^[0-9]+$", elements))) stop(what, " must be whole numbers in [0, p)", call. = FALSE)
    values <- gmp::as.bigz(elements)
  } else if (is.numeric(elements)) {
    if (anyNA(elements) || any(elements != trunc(elements)) || any(abs(elements) > 2^53)) {
      stop(what, " must be whole numbers in [0, p) (as strings or bigz beyond 2^53)", call. = FALSE)
    }
    values <- gmp::as.bigz(elements)
  } else {
    stop(what, " must be a bigz vector or decimal strings", call. = FALSE)
  }
  p <- ss_p()
  for (position in seq_along(values)) {
    if (is.na(values[position]) || values[position] < 0 || values[position] >= p) {
      stop(sprintf("%s: element %d is not a field element (in [0, p))", what, position), call. = FALSE)
    }
  }
  values
}

#' Decodes summed field elements into exact decimals (spec §2.2)
#'
#' An element s > (p-1)/2 stands for the negative integer s - p; the integer is divided by
#' 10^d exactly. Exact while the true sum's magnitude is at most (p-1)/2, which
#' \code{secretshare_max_decodable_batch_size} guarantees for honest contributors.
#'
#' @param aggregate the summed elements: a bigz vector or decimal strings in \[0, p).
#' @param endpoint an Endpoint message or a named list of its fields.
#' @return a character vector of exact decimals, e.g. \code{"-0.05"}.
#' @seealso \code{\link{secretshare}}
#' @export
secretshare_decode <- function(aggregate, endpoint) {
  fields <- ss_endpoint_fields(endpoint)
  if (length(aggregate) != fields$vector_length) {
    ss_stop(sprintf("endpoint '%s' has %d elements, got %d", fields$name, fields$vector_length, length(aggregate)))
  }
  scale <- ss_scale(fields)
  values <- ss_elements(aggregate, "aggregate")
  p <- ss_p()
  half <- ss_half()
  vapply(seq_along(values), function(j) {
    s <- values[j]
    ss_unscaled(if (s > half) s - p else s, scale)
  }, character(1))
}

# `count` uniform field elements: 8 CSPRNG bytes each as a little-endian u64,
# accepted when below p (rejection sampling; a draw is refused with
# probability about 2^-32).
ss_random_elements <- function(count) {
  p <- ss_p()
  result <- gmp::as.bigz(rep(0, count))
  missing <- seq_len(count)
  while (length(missing)) {
    bytes <- matrix(openssl::rand_bytes(8L * length(missing)), nrow = 8L)
    hex <- apply(bytes, 2L, function(column) paste(rev(as.character(column)), collapse = ""))
    drawn <- gmp::as.bigz(paste0("0x", hex))
    accepted <- drawn < p
    result[missing[accepted]] <- drawn[accepted]
    missing <- missing[!accepted]
  }
  result
}

#' Splits field elements into n additive shares: share i goes to party i
#'
#' Shares 1..n-1 are drawn independently and uniformly from \[0, p) with
#' \code{openssl::rand_bytes} (rejection sampling of 8 bytes); the last is
#' \code{(f - sum of the others) mod p}, so the shares add up to \code{encoded} modulo p. Any
#' n-1 of them are uniformly random and reveal nothing.
#'
#' @param encoded field elements, as \code{secretshare_encode} returns them.
#' @param n the number of parties (at least 2).
#' @return a list of n bigz vectors; element i + 1 goes to party i.
#' @seealso \code{\link{secretshare}}
#' @export
secretshare_split <- function(encoded, n) {
  if (!is.numeric(n) || length(n) != 1L || is.na(n) || n != trunc(n) || n < 2) {
    stop("n must be a whole number of parties, at least 2", call. = FALSE)
  }
  encoded <- ss_elements(encoded, "encoded")
  p <- ss_p()
  length <- length(encoded)
  shares <- lapply(seq_len(n - 1L), function(i) ss_random_elements(length))
  total <- gmp::as.bigz(rep(0, length))
  for (share in shares) total <- total + share
  last <- if (length) gmp::mod.bigz(encoded - total, p) else gmp::as.bigz(integer(0))
  c(shares, list(last))
}

#' The config digest of an endpoint for party_count parties (spec §2.3)
#'
#' @param endpoint an Endpoint message as a party returned it, or a named list of its fields
#'   (\code{min_batch_size} must be set).
#' @param party_count N.
#' @return lowercase hex SHA-256.
#' @seealso \code{\link{secretshare}}
#' @export
secretshare_config_digest <- function(endpoint, party_count) {
  fields <- ss_endpoint_fields(endpoint)
  if (!fields$field %in% c(0L, 1L)) {
    ss_stop(sprintf("endpoint '%s' uses a field this client does not know (%d)", fields$name, fields$field))
  }
  encoding <- names(.ss_encodings)[match(fields$encoding, .ss_encodings)]
  if (is.na(encoding)) ss_stop(sprintf("endpoint '%s' has no value encoding", fields$name))
  if (is.null(fields$min_batch_size)) {
    ss_stop(sprintf("endpoint '%s' has no min_batch_size; digest the Endpoint a party returned", fields$name))
  }
  text <- paste0(
    "steward-secretshare-endpoint/v1\n",
    "name=", fields$name, "\n",
    "party_count=", ss_integer_text(party_count, "party_count"), "\n",
    "field=field64\n",
    "modulus=", .ss_modulus, "\n",
    "vector_length=", fields$vector_length, "\n",
    "encoding=", encoding, "\n",
    "decimal_scale=", fields$decimal_scale, "\n",
    "min_value=", fields$min_value, "\n",
    "max_value=", fields$max_value, "\n",
    "min_batch_size=", fields$min_batch_size, "\n",
    "max_submissions_per_contributor=", fields$max_submissions_per_contributor %||% "1", "\n"
  )
  ss_sha256(charToRaw(enc2utf8(text)))
}

# Lowercase hex SHA-256 of raw bytes, as a plain string.
ss_sha256 <- function(bytes) paste(as.character(unclass(openssl::sha256(bytes))), collapse = "")

ss_id_bytes <- function(id) {
  if (!is.character(id) || length(id) != 1L || is.na(id) || !grepl(.ss_id_text, id)) {
    stop(sprintf("submission id \"%s\" is not 32 hex digits", id), call. = FALSE)
  }
  raw <- as.raw(strtoi(substring(id, seq(1L, 31L, 2L), seq(2L, 32L, 2L)), 16L))
  if (all(raw == as.raw(0L))) stop("the all-zero submission id is not allowed", call. = FALSE)
  raw
}

#' The batch digest of endpoint name and a set of submission ids (spec §2.5)
#'
#' SHA-256 of \code{"steward-secretshare-batch/v1\\n"}, the name, \code{"\\n"} and the 16-byte
#' binary ids sorted ascending; the order of \code{ids} does not matter.
#'
#' @param name the endpoint's name.
#' @param ids submission ids (32 hex digits each, any case).
#' @return lowercase hex SHA-256.
#' @seealso \code{\link{secretshare}}
#' @export
secretshare_batch_digest <- function(name, ids) {
  if (!is.character(name) || length(name) != 1L) stop("name must be one endpoint name", call. = FALSE)
  if (!is.character(ids) || length(ids) == 0L) stop("a batch needs at least one submission id", call. = FALSE)
  raw <- lapply(ids, ss_id_bytes)
  # Lowercase hex sorts in C order exactly as the bytes do.
  key <- vapply(raw, function(r) paste(as.character(r), collapse = ""), character(1))
  if (anyDuplicated(key)) stop("a batch lists each submission id once", call. = FALSE)
  ordered <- raw[order(key, method = "radix")]
  data <- c(charToRaw("steward-secretshare-batch/v1\n"), charToRaw(enc2utf8(name)), charToRaw("\n"),
    unlist(ordered, use.names = FALSE))
  ss_sha256(data)
}

#' A fresh submission id: 16 CSPRNG bytes as 32 lowercase hex digits, never all zeros
#'
#' @return a string.
#' @seealso \code{\link{secretshare}}
#' @export
secretshare_new_id <- function() {
  repeat {
    raw <- openssl::rand_bytes(16L)
    if (any(raw != as.raw(0L))) return(paste(as.character(raw), collapse = ""))
  }
}

# --- talking to the parties ----------------------------------------------------------

#' All N parties of a secret-share deployment, checked and in party order
#'
#' Asks every party who it is (\code{GetPartyInfo}): the indices must be exactly 0..N-1, each
#' once, every \code{party_count} must be N (the number of clients given), and the field
#' Field64. Otherwise it stops with a \code{steward_secretshare_error} and nothing is ever sent.
#' Each party's URL must come from your own configuration, never from another party.
#'
#' @param clients a list of \code{steward_client}s, or URLs, one per party, in any order.
#' @param token for URLs: one token for every party, or one per party in the order of
#'   \code{clients} (Steward API tokens are issued by each party).
#' @param retries how many more times a call that found a party unreachable (or lost a race,
#'   for sealing) is repeated with the identical request.
#' @return a \code{steward_secretshare_parties} object: \code{$clients} and \code{$infos} (the
#'   \code{GetPartyInfo} answers) by
#'   party index, \code{$count}.
#' @seealso \code{\link{secretshare}}
#' @export
secretshare_parties <- function(clients, token = NULL, retries = 3L) {
  if (inherits(clients, "steward_client") || (!is.list(clients) && !is.character(clients)) || length(clients) < 2L) {
    ss_stop("secret sharing needs at least 2 parties: give a list with every party's client or URL")
  }
  if (!is.numeric(retries) || length(retries) != 1L || is.na(retries) || retries < 0) {
    stop("retries must be 0 or more", call. = FALSE)
  }
  clients <- as.list(clients)
  n <- length(clients)
  tokens <- if (is.null(token) || length(token) == 1L) rep(list(token), n) else as.list(token)
  if (length(tokens) != n) stop(sprintf("give one token per party: %d parties, %d tokens", n, length(tokens)), call. = FALSE)
  given <- lapply(seq_len(n), function(i) {
    party <- clients[[i]]
    if (inherits(party, "steward_client")) return(party)
    if (is.character(party) && length(party) == 1L) return(steward_client(party, token = tokens[[i]]))
    stop("a party is a steward_client or a URL", call. = FALSE)
  })
  parties <- structure(
    list(clients = given, infos = NULL, count = n, retries = as.integer(retries), endpoints = new.env(parent = emptyenv())),
    class = "steward_secretshare_parties"
  )
  infos <- lapply(given, function(client) ss_call(parties, get_party_info, client))
  by_index <- rep(NA_integer_, n)
  for (position in seq_len(n)) {
    info <- infos[[position]]
    where <- sprintf("party %s", given[[position]]$url)
    if (info$party_count != n) {
      ss_stop(sprintf(paste0("%s says there are %s parties, but %d were configured here; every party's URL ",
        "must be given, and every party must be configured with the same count"), where, info$party_count, n))
    }
    if (info$modulus != .ss_modulus || info$field != 1L) {
      ss_stop(sprintf("%s uses field modulus \"%s\"; this client knows only Field64 (%s)", where, info$modulus, .ss_modulus))
    }
    index <- as.integer(info$party_index)
    if (index >= n) ss_stop(sprintf("%s says it is party %d, but there are only %d", where, index, n))
    if (!is.na(by_index[index + 1L])) {
      ss_stop(sprintf("%s and party %s both say they are party %d; two shares must never go to one party, so nothing is sent",
        where, given[[by_index[index + 1L]]]$url, index))
    }
    by_index[index + 1L] <- position
  }
  parties$clients <- given[by_index]
  parties$infos <- infos[by_index]
  parties
}

# Never prints tokens: only the parties' URLs.
#' @rdname secretshare_parties
#' @param x a \code{steward_secretshare_parties} object.
#' @param ... not used.
#' @export
print.steward_secretshare_parties <- function(x, ...) {
  cat(sprintf("<steward_secretshare_parties: %d parties, %s>\n", x$count,
    paste(vapply(x$clients, function(client) client$url, character(1)), collapse = ", ")))
  invisible(x)
}

check_parties <- function(parties) {
  if (!inherits(parties, "steward_secretshare_parties")) {
    stop("parties must come from secretshare_parties()", call. = FALSE)
  }
}

# One RPC, repeated on transient failures with the identical request.
ss_call <- function(parties, rpc, client, ...) {
  attempt <- 0L
  repeat {
    result <- tryCatch(rpc(client, ...), steward_error = function(e) e)
    if (!inherits(result, "steward_error")) return(result)
    if (!inherits(result, .ss_transient) || attempt >= parties$retries) stop(result)
    attempt <- attempt + 1L
    Sys.sleep(min(0.5 * 2^attempt, 8))
  }
}

#' Reads endpoint name from every party and checks they hold the same one
#'
#' All parties must return the same \code{config_digest}, equal to the digest recomputed here
#' from the returned fields with this N, and each must say it is the party it was checked to
#' be. \code{expect} names Endpoint fields and the values you rely on.
#'
#' @param parties from \code{secretshare_parties}.
#' @param name the endpoint's name.
#' @param expect e.g. \code{list(vector_length = 10, encoding = "fixed_point", decimal_scale = 2)}.
#' @return party 0's Endpoint message.
#' @seealso \code{\link{secretshare}}
#' @export
secretshare_endpoint <- function(parties, name, expect = NULL) {
  check_parties(parties)
  endpoints <- lapply(seq_len(parties$count), function(i) {
    client <- parties$clients[[i]]
    response <- ss_call(parties, get_endpoint, client, name = name)
    if (response$party_index != i - 1L) {
      ss_stop(sprintf("party %s answered as party %s, but it is party %d", client$url, response$party_index, i - 1L))
    }
    response$endpoint
  })
  ss_verify(parties, name, endpoints, expect)
  assign(name, endpoints[[1]], envir = parties$endpoints)
  endpoints[[1]]
}

ss_verify <- function(parties, name, endpoints, expect) {
  first <- endpoints[[1]]
  for (i in seq_along(endpoints)) {
    endpoint <- endpoints[[i]]
    where <- sprintf("party %d (%s)", i - 1L, parties$clients[[i]]$url)
    if (endpoint$name != name) ss_stop(sprintf("%s returned endpoint '%s' for '%s'", where, endpoint$name, name))
    if (endpoint$config_digest != first$config_digest) {
      ss_stop(sprintf("parties 0 and %d hold different configurations of endpoint '%s' (config digests %s and %s); nothing is sent",
        i - 1L, name, first$config_digest, endpoint$config_digest))
    }
    local <- secretshare_config_digest(endpoint, parties$count)
    if (endpoint$config_digest != local) {
      ss_stop(sprintf("%s reports config digest %s for endpoint '%s', but its fields with %d parties give %s; nothing is sent",
        where, endpoint$config_digest, name, parties$count, local))
    }
  }
  for (field in names(expect)) {
    if (!field %in% names(first)) stop(sprintf("expect names '%s', which is not an Endpoint field", field), call. = FALSE)
    actual <- first[[field]]
    wanted <- expect[[field]]
    if (field == "encoding") wanted <- ss_encoding_value(wanted)
    same <- if (is.numeric(actual) || grepl("^-?[0-9]+$", as.character(actual))) {
      tryCatch(gmp::as.bigz(as.character(actual)) == gmp::as.bigz(ss_integer_text(wanted, field)), error = function(e) FALSE)
    } else {
      identical(as.character(actual), as.character(wanted))
    }
    if (!isTRUE(same)) {
      ss_stop(sprintf("endpoint '%s' has %s = %s, expected %s", name, field, format(actual), format(wanted)))
    }
  }
}

ss_verified <- function(parties, name) {
  if (exists(name, envir = parties$endpoints, inherits = FALSE)) get(name, envir = parties$endpoints) else secretshare_endpoint(parties, name)
}

#' Creates the same endpoint on every party (idempotent) and checks they agree
#'
#' @param parties from \code{secretshare_parties} (a developer's clients).
#' @param name,vector_length,encoding,decimal_scale,min_value,max_value,min_batch_size,max_submissions_per_contributor,description,dataset
#'   the Endpoint's fields; \code{encoding} is \code{"integer"} or \code{"fixed_point"}; bounds
#'   are in encoded units (numbers or strings).
#' @return party 0's Endpoint message.
#' @seealso \code{\link{secretshare}}
#' @export
secretshare_create_endpoint <- function(parties, name, vector_length, encoding, decimal_scale = 0L, min_value,
                                        max_value, min_batch_size = NULL, max_submissions_per_contributor = NULL,
                                        description = NULL, dataset = NULL) {
  check_parties(parties)
  wanted <- list(
    name = name, vector_length = vector_length, field = "FIELD_FIELD64",
    encoding = c("VALUE_ENCODING_UNSPECIFIED", "VALUE_ENCODING_INTEGER", "VALUE_ENCODING_FIXED_POINT")[ss_encoding_value(encoding) + 1L],
    decimal_scale = decimal_scale, min_value = ss_integer_text(min_value, "min_value"),
    max_value = ss_integer_text(max_value, "max_value"), min_batch_size = min_batch_size,
    max_submissions_per_contributor = max_submissions_per_contributor, description = description, dataset = dataset
  )
  created <- lapply(seq_len(parties$count), function(i) {
    client <- parties$clients[[i]]
    tryCatch(ss_call(parties, create_endpoint, client, endpoint = wanted)$endpoint, steward_error = function(e) {
      done <- if (i > 1L) sprintf("; parties 0..%d have it, and creating it again is safe", i - 2L) else ""
      ss_stop(sprintf("party %d (%s) refused to create endpoint '%s': %s%s", i - 1L, client$url, name,
        conditionMessage(e), done), parent = e)
    })
  })
  ss_verify(parties, name, created, NULL)
  assign(name, created[[1]], envir = parties$endpoints)
  created[[1]]
}

#' Encodes, splits and sends one submission to every party
#'
#' The endpoint is checked on every party first (once per name). Share i goes to party i under
#' one fresh id, in party order. An unreachable party is retried with the same id and shares;
#' if it stays unreachable, a \code{steward_secretshare_incomplete} condition is raised (pass
#' it to \code{secretshare_resume} or \code{secretshare_withdraw}). If a party refuses, the
#' submission is withdrawn from the parties that accepted it and a
#' \code{steward_secretshare_error} is raised, with the party's error as \code{$parent}.
#'
#' @param parties from \code{secretshare_parties} (a contributor's clients).
#' @param name the endpoint's name.
#' @param values \code{vector_length} values, see \code{secretshare_encode}.
#' @return the submission id.
#' @seealso \code{\link{secretshare}}
#' @export
secretshare_submit <- function(parties, name, values) {
  check_parties(parties)
  endpoint <- ss_verified(parties, name)
  shares <- secretshare_split(secretshare_encode(values, endpoint), parties$count)
  ss_send(parties, name, secretshare_new_id(), endpoint$config_digest, shares, integer(0))
}

#' Sends an incomplete submission's same shares, under the same id, to the parties that lack it
#'
#' @param parties from \code{secretshare_parties}.
#' @param incomplete the \code{steward_secretshare_incomplete} condition.
#' @return the submission id.
#' @seealso \code{\link{secretshare}}
#' @export
secretshare_resume <- function(parties, incomplete) {
  check_parties(parties)
  ss_send(parties, incomplete$endpoint, incomplete$submission_id, incomplete$config_digest,
    incomplete$shares(), incomplete$acknowledged)
}

#' Withdraws an incomplete submission from the parties that acknowledged it
#'
#' @param parties from \code{secretshare_parties}.
#' @param incomplete the \code{steward_secretshare_incomplete} condition.
#' @return invisibly \code{NULL}. If a party cannot be reached, the submission stays pending there (never
#'   sealed without the other parties) and a \code{steward_secretshare_error} is raised.
#' @seealso \code{\link{secretshare}}
#' @export
secretshare_withdraw <- function(parties, incomplete) {
  check_parties(parties)
  failures <- ss_withdraw(parties, incomplete$endpoint, incomplete$submission_id, incomplete$acknowledged)
  if (length(failures)) {
    ss_stop(sprintf("could not withdraw submission %s from %s; it stays pending there and is never sealed without the other parties",
      incomplete$submission_id, paste(failures, collapse = ", ")))
  }
  invisible(NULL)
}

ss_send <- function(parties, name, submission_id, digest, shares, acknowledged) {
  for (i in seq_len(parties$count)) {
    index <- i - 1L
    if (index %in% acknowledged) next
    client <- parties$clients[[i]]
    outcome <- tryCatch({
      ss_call(parties, submit_share, client, endpoint = name, submission_id = submission_id, party_index = index,
        config_digest = digest, share = as.character(shares[[i]]))
      NULL
    }, steward_error = function(e) e)
    if (is.null(outcome)) {
      acknowledged <- c(acknowledged, index)
      next
    }
    if (inherits(outcome, .ss_transient)) {
      # The shares travel in a closure, so printing the condition never shows them.
      kept <- shares
      ss_stop(sprintf(paste0("party %d (%s) could not be reached for submission %s (%s); parties [%s] hold it. ",
        "Resume with secretshare_resume(parties, e) (the same shares) or take it back with secretshare_withdraw(parties, e)"),
        index, client$url, submission_id, conditionMessage(outcome), paste(sort(acknowledged), collapse = ", ")),
        class = "steward_secretshare_incomplete", parent = outcome, endpoint = name, submission_id = submission_id,
        acknowledged = acknowledged, config_digest = digest, shares = function() kept)
    }
    failures <- ss_withdraw(parties, name, submission_id, acknowledged)
    after <- if (!length(acknowledged)) {
      "no party holds it"
    } else if (length(failures)) {
      sprintf("withdrawing it failed on %s, where it stays pending (it is never sealed without every party)",
        paste(failures, collapse = ", "))
    } else {
      sprintf("it was withdrawn from parties [%s]", paste(sort(acknowledged), collapse = ", "))
    }
    ss_stop(sprintf("party %d (%s) refused submission %s: %s; %s", index, client$url, submission_id,
      conditionMessage(outcome), after), parent = outcome)
  }
  submission_id
}

ss_withdraw <- function(parties, name, submission_id, indices) {
  failures <- character(0)
  for (index in sort(indices)) {
    failure <- tryCatch({
      ss_call(parties, delete_submission, parties$clients[[index + 1L]], endpoint = name, submission_id = submission_id)
      NULL
    }, steward_not_found = function(e) NULL, steward_error = function(e) sprintf("party %d (%s)", index, conditionMessage(e)))
    failures <- c(failures, failure)
  }
  failures
}

#' The submission ids pending on every party, in party 0's order of receipt (oldest first)
#'
#' @param parties from \code{secretshare_parties} (a scientist's clients).
#' @param name the endpoint's name.
#' @return a character vector of ids.
#' @seealso \code{\link{secretshare}}
#' @export
secretshare_pending <- function(parties, name) {
  check_parties(parties)
  lists <- lapply(parties$clients, function(client) ss_list_pending(parties, client, name))
  ids <- lists[[1]]
  for (other in lists[-1]) ids <- ids[ids %in% other]
  ids
}

ss_list_pending <- function(parties, client, name) {
  ids <- character(0)
  token <- ""
  repeat {
    page <- ss_call(parties, list_pending_submissions, client, endpoint = name, page_size = 10000L, page_token = token)
    ids <- c(ids, tolower(page$submission_ids))
    token <- page$next_page_token
    if (!nzchar(token)) return(ids)
  }
}

#' Seals the oldest pending submissions into one batch on every party and decodes the sum
#'
#' Takes the ids pending on every party, oldest first, up to the smallest of \code{n}, the
#' endpoint's decodable limit and each party's max batch size; or exactly \code{ids} (to retry
#' a set after a partial failure). Computes the batch digest here, calls \code{SealBatch} on
#' every party, and checks every answer (same batch digest as computed here, same counts and
#' config digest, party indices 0..N-1, L elements below p) before adding the aggregate shares
#' modulo p and decoding.
#'
#' @param parties from \code{secretshare_parties} (a scientist's clients).
#' @param name the endpoint's name.
#' @param n at most this many submissions (\code{NULL}: as many as allowed).
#' @param ids exactly these submission ids (32 hex digits each) instead.
#' @return a list: \code{sums} (exact decimal strings, one per element), \code{submission_count},
#'   \code{contributor_count} (for means), \code{batch_digest}, \code{submission_ids},
#'   \code{already_sealed}.
#' @section Errors: a \code{steward_secretshare_seal_error} when a party refused, with
#'   \code{$submission_ids}, \code{$batch_digest}, \code{$sealed_on} and \code{$permanent}: a set
#'   some parties sealed and another refused for good can never be released (safe: no party
#'   learns anything); otherwise retrying with \code{ids = e$submission_ids} is safe.
#' @seealso \code{\link{secretshare}}
#' @export
secretshare_seal_and_sum <- function(parties, name, n = NULL, ids = NULL) {
  check_parties(parties)
  endpoint <- secretshare_endpoint(parties, name)
  if (!is.null(n) && (!is.numeric(n) || length(n) != 1L || is.na(n) || n != trunc(n) || n < 1)) {
    stop("n must be a positive whole number", call. = FALSE)
  }
  if (is.null(ids)) {
    limits <- list(n, secretshare_max_decodable_batch_size(endpoint))
    for (info in parties$infos) if (info$max_batch_size > 0) limits <- c(limits, list(info$max_batch_size))
    limit <- NULL
    for (value in limits) if (!is.null(value)) limit <- if (is.null(limit)) gmp::as.bigz(value) else min(limit, gmp::as.bigz(value))
    chosen <- secretshare_pending(parties, name)
    if (!is.null(limit) && length(chosen) > limit) chosen <- chosen[seq_len(as.integer(limit))]
    if (length(chosen) < endpoint$min_batch_size) {
      ss_stop(sprintf("only %d submissions of endpoint '%s' are pending on every party (and within the limit); a batch needs at least %s",
        length(chosen), name, endpoint$min_batch_size))
    }
  } else {
    chosen <- tolower(ids)
  }
  digest <- secretshare_batch_digest(name, chosen)
  batches <- list()
  already <- TRUE
  for (i in seq_len(parties$count)) {
    client <- parties$clients[[i]]
    response <- tryCatch(
      ss_call(parties, seal_batch, client, endpoint = name, submission_ids = chosen,
        config_digest = endpoint$config_digest, expected_batch_digest = digest),
      steward_error = function(e) stop(ss_seal_error(name, digest, chosen, i - 1L, client, e))
    )
    batches[[i]] <- response$batch
    already <- already && isTRUE(response$already_sealed)
  }
  ss_combine(parties, endpoint, digest, chosen, batches, already)
}

ss_seal_error <- function(name, digest, chosen, index, client, error) {
  sealed_on <- seq_len(index) - 1L
  # BATCH_OVERLAP, UNKNOWN_SUBMISSION, BATCH_TOO_SMALL/LARGE: the same set fails
  # the same way every time. Anything else (unreachable, no permission yet) may pass later.
  permanent <- inherits(error, c("steward_failed_precondition", "steward_invalid_argument"))
  what <- sprintf("party %d (%s) refused to seal batch %s of endpoint '%s' (%d submissions): %s", index, client$url,
    digest, name, length(chosen), conditionMessage(error))
  advice <- if (permanent && length(sealed_on)) {
    sprintf(paste0("parties [%s] sealed this set, so it can never be released: its submissions are used up. ",
      "That is safe (no party learned anything); seal other submissions next"), paste(sealed_on, collapse = ", "))
  } else if (permanent) {
    "nothing was sealed; this set cannot be sealed, choose another"
  } else {
    sprintf("retrying secretshare_seal_and_sum(parties, '%s', ids = e$submission_ids) is safe: sealing the same set is idempotent", name)
  }
  ss_condition(paste0(what, "; ", advice), class = "steward_secretshare_seal_error", parent = error,
    submission_ids = chosen, batch_digest = digest, sealed_on = sealed_on, permanent = permanent)
}

ss_combine <- function(parties, endpoint, digest, chosen, batches, already) {
  n <- parties$count
  length <- as.integer(endpoint$vector_length)
  first <- batches[[1]]
  p <- ss_p()
  total <- gmp::as.bigz(rep(0, length))
  for (i in seq_along(batches)) {
    batch <- batches[[i]]
    share <- batch$aggregate_share
    problem <- if (batch$batch_digest != digest) {
      sprintf("batch digest %s, computed here %s", batch$batch_digest, digest)
    } else if (batch$config_digest != endpoint$config_digest) {
      sprintf("config digest %s, checked %s", batch$config_digest, endpoint$config_digest)
    } else if (as.character(batch$submission_count) != as.character(length(chosen)) ||
      as.character(batch$submission_count) != as.character(first$submission_count)) {
      sprintf("%s submissions, %d sealed", batch$submission_count, length(chosen))
    } else if (as.character(batch$contributor_count) != as.character(first$contributor_count)) {
      sprintf("%s contributors, party 0 %s", batch$contributor_count, first$contributor_count)
    } else if (batch$party_index != i - 1L || batch$party_count != n) {
      sprintf("party %s of %s, expected %d of %d", batch$party_index, batch$party_count, i - 1L, n)
    } else if (length(share) != length || !all(grepl("^[0-9]+$", share)) ||
      (length(share) && any(gmp::as.bigz(share) >= p))) {
      sprintf("an aggregate share of %d elements, expected %d below p", length(share), length)
    } else {
      NULL
    }
    if (!is.null(problem)) {
      ss_stop(sprintf("party %d answered sealing batch %s of endpoint '%s' with %s; the parties disagree, so no sum is computed",
        i - 1L, digest, endpoint$name, problem))
    }
    if (length) total <- total + gmp::as.bigz(share)
  }
  if (length) total <- gmp::mod.bigz(total, p)
  list(
    sums = secretshare_decode(total, endpoint),
    submission_count = as.integer(first$submission_count),
    contributor_count = as.integer(first$contributor_count),
    batch_digest = digest,
    submission_ids = chosen,
    already_sealed = already
  )
}
