# The package's own help page (?steward, ?`steward-package`).

#' Client for the Steward research-data server
#'
#' Calls Steward over gRPC-web: create a client with \code{\link{steward_client}}, then call
#' one function per RPC, e.g. \code{\link{who_am_i}}.
#'
#' @seealso \code{\link{steward_client}}
"_PACKAGE"
