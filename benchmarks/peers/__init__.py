"""One small jobs module per library; each library's worker CLI imports its own."""
