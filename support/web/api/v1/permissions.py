"""The permission to unlock: check it, redeem it for one device (issue 22; being built)."""
