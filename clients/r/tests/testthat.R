# R CMD check entry point. The tests call a live Steward: run them through
# `tests/e2e/run r`, which starts one and sets STEWARD_URL and the tokens.
library(testthat)
library(steward)
test_check("steward")
