# The two DatasetGateway questions R scripts ask most, with plain arguments and
# the answer as R lists: user_cache() (what may I do?) and check_access() (may
# I do this?). They call the generated get_user_cache() and
# authorization_check_access(), whose google.api.HttpBody carries DSG's JSON.

#' The caller's DatasetGateway permission document
#'
#' Calls \code{\link{get_user_cache}} and parses its JSON body (with \pkg{jsonlite}).
#'
#' @details Errors are conditions of class \code{steward_error}, e.g. \code{steward_unauthenticated} without a
#'   valid token.
#' @param client a client from \code{\link{steward_client}}.
#' @param service a service name (e.g. \code{"celltyping"}) whose active terms of service also filter
#'   \code{permissions_v2} and are listed in \code{missing_tos}; \code{NULL} for none.
#' @param .timeout seconds before the call fails with \code{DEADLINE_EXCEEDED}; \code{NULL} uses the client's
#'   timeout.
#' @return DSG's \code{user/cache} document as a named list in DSG's key order: \code{id}, \code{parent_id},
#'   \code{service_account}, \code{name}, \code{email}, \code{admin}, \code{pi}, \code{picture_url},
#'   \code{affiliations}, \code{groups}, \code{groups_admin}, \code{permissions} (dataset = level number),
#'   \code{permissions_v2} (dataset = sorted level names, e.g. \code{c("edit", "view")}), the same levels
#'   without the terms-of-service filter (the key after \code{permissions_v2}), \code{missing_tos} (a list of
#'   named lists) and \code{datasets_admin}.
#'   Empty JSON arrays read as \code{list()}.
#' @seealso \code{\link{check_access}}, \code{\link{steward_client}}
#' @export
user_cache <- function(client, service = NULL, .timeout = NULL) {
  optional_string(service, "service")
  dsg_json(get_user_cache(client, service = service, .timeout = .timeout))
}

#' May the caller act on a dataset? (DatasetGateway check-access)
#'
#' Sends DSG's JSON question through \code{\link{authorization_check_access}} and parses the answer.
#'
#' @details Errors are conditions of class \code{steward_error}: \code{steward_invalid_argument} for an empty
#'   \code{dataset} or an unknown \code{permission}, \code{steward_not_found} for an unknown dataset,
#'   \code{steward_unauthenticated} without a valid token.
#' @param client a client from \code{\link{steward_client}}.
#' @param dataset the dataset's name.
#' @param permission \code{"view"}, \code{"edit"}, \code{"manage"} or \code{"admin"}; each includes the ones
#'   before it.
#' @param version a version name to count that version's grants too; \code{NULL} for dataset-wide grants only.
#' @param service a service name whose active terms of service must be accepted; \code{NULL} for none.
#' @param .timeout seconds before the call fails with \code{DEADLINE_EXCEEDED}; \code{NULL} uses the client's
#'   timeout.
#' @return The decision as a named list: \code{allowed} (logical) and \code{reason} (\code{"admin"},
#'   \code{"dataset_admin"}, \code{"group_permission"}, \code{"direct_grant"}, \code{"public"},
#'   \code{"service_account_grant"}, \code{"tos_required"} or \code{"no_permission"}), plus
#'   \code{tos_id}, \code{tos_name} (and \code{service}) when terms must be accepted first.
#' @seealso \code{\link{user_cache}}, \code{\link{steward_client}}
#' @export
check_access <- function(client, dataset, permission = "view", version = NULL, service = NULL, .timeout = NULL) {
  if (!is.character(dataset) || length(dataset) != 1L || is.na(dataset)) {
    stop("dataset must be one dataset name (a string)", call. = FALSE)
  }
  if (!is.character(permission) || length(permission) != 1L || is.na(permission)) {
    stop("permission must be one of \"view\", \"edit\", \"manage\", \"admin\"", call. = FALSE)
  }
  optional_string(version, "version")
  optional_string(service, "service")
  question <- list(dataset = dataset, permission = permission, version = version, service = service)
  question <- question[!vapply(question, is.null, logical(1))]
  body <- list(
    content_type = "application/json",
    data = charToRaw(enc2utf8(as.character(jsonlite::toJSON(question, auto_unbox = TRUE))))
  )
  dsg_json(authorization_check_access(client, body = body, .timeout = .timeout))
}

optional_string <- function(value, name) {
  if (!is.null(value) && (!is.character(value) || length(value) != 1L || is.na(value))) {
    stop(name, " must be one string, or NULL", call. = FALSE)
  }
}

# An HttpBody's JSON as R values: objects become named lists, arrays of
# scalars vectors (`permissions_v2$fish2` is c("edit", "view")), other arrays
# lists (`missing_tos`), `[]` an empty list; ids beyond 2^53 stay exact strings.
dsg_json <- function(body) {
  data <- body$data
  text <- if (is.raw(data)) rawToChar(data) else as.character(data)
  Encoding(text) <- "UTF-8"
  jsonlite::fromJSON(text, simplifyVector = TRUE, simplifyDataFrame = FALSE, simplifyMatrix = FALSE,
    bigint_as_char = TRUE)
}
