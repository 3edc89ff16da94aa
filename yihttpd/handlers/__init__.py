"""One module per group of web services; each exports plain handler functions."""
