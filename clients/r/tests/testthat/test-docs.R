# Every export has a help page whose usage matches the function and whose
# arguments section names each argument. roxygen2 writes the pages from the
# roxygen blocks (clients/r/generate); this catches an exported function left
# without a block or an argument without its @param.

# What R CMD check would say about the installed package's documentation:
# exports without a page (undoc), usages that differ from the code (codoc),
# arguments in a usage that the page does not describe (checkDocFiles).
doc_problems <- function(package, lib.loc = NULL) {
  c(
    format(tools::undoc(package = package, lib.loc = lib.loc)),
    format(tools::codoc(package = package, lib.loc = lib.loc)),
    format(tools::checkDocFiles(package = package, lib.loc = lib.loc))
  )
}

test_that("every exported function has a help page documenting all its arguments", {
  expect_identical(doc_problems("steward"), character())
})

test_that("the documentation check finds a missing page and a missing argument", {
  # A throwaway package with both faults, installed for real: the check above
  # proves something only if it fails here.
  dir <- withr::local_tempdir()
  source <- file.path(dir, "docfaults")
  lib <- file.path(dir, "lib")
  dir.create(file.path(source, "R"), recursive = TRUE)
  dir.create(file.path(source, "man"))
  dir.create(lib)
  writeLines(c("Package: docfaults", "Version: 0.1", "Title: Faults", "Description: Faults.",
    "License: MIT", "Encoding: UTF-8"), file.path(source, "DESCRIPTION"))
  writeLines(c("export(documented)", "export(undocumented)"), file.path(source, "NAMESPACE"))
  writeLines(c("documented <- function(x, y) x + y", "undocumented <- function() NULL"),
    file.path(source, "R", "docfaults.R"))
  writeLines(c("\\name{documented}", "\\alias{documented}", "\\title{Adds}", "\\usage{documented(x, y)}",
    "\\arguments{\\item{x}{a number.}}", "\\value{The sum.}", "\\description{Adds.}"),
    file.path(source, "man", "documented.Rd"))
  log <- system2(file.path(R.home("bin"), "R"), c("CMD", "INSTALL", "--no-test-load", paste0("--library=", lib),
    source), stdout = TRUE, stderr = TRUE)
  expect_true(file.exists(file.path(lib, "docfaults", "DESCRIPTION")), info = paste(log, collapse = "\n"))

  problems <- paste(doc_problems("docfaults", lib.loc = lib), collapse = "\n")
  expect_match(problems, "undocumented")
  expect_match(problems, "documented.*\\by\\b")
})
