"""One module per page, each with its layout function and its callbacks."""
