"""Applications from the maker's apps (issue 22; being built)."""
